import { RetrainPolicy } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import {
  decide,
  INITIAL_POLICY_STATE,
  legacyDriftRequestId,
  type PolicyState,
  type RetrainDecision,
  type RetrainSignal,
} from './retrain-policy';

const PIPELINE = 'elec2';

const labelWindow = (index: number, accuracy: number, extra: Partial<RetrainSignal> = {}): RetrainSignal =>
  ({
    kind: 'label-window',
    signalId: `label-window:${index}`,
    pipelineId: PIPELINE,
    modelVersion: 1,
    metrics: { accuracy },
    labelledRows: 200,
    summary: `window ${index}`,
    ...extra,
  }) as RetrainSignal;

const newData = (index: number, rows: number): RetrainSignal => ({
  kind: 'new-data',
  signalId: `dataset:${index}`,
  pipelineId: PIPELINE,
  rows,
  datasetVersionId: `ds-${index}`,
  summary: `version ${index}`,
});

/** Runs signals through the policy in order, as the consumer would; returns the decisions and the final state. */
function replay(policy: RetrainPolicy | undefined, signals: RetrainSignal[], wallTimes?: number[]) {
  let state: PolicyState = INITIAL_POLICY_STATE;
  const decisions: RetrainDecision[] = [];
  signals.forEach((signal, i) => {
    const outcome = decide(state, signal, policy, wallTimes?.[i] ?? 1_000 + i);
    if (outcome.next) state = outcome.next;
    if (outcome.decision) decisions.push(outcome.decision);
  });
  return { decisions, state };
}

describe('retrain policy', () => {
  const policy = RetrainPolicy.parse({
    triggers: { performanceDrop: { metric: 'accuracy', below: 0.8, minRows: 100 } },
    cooldown: { rows: 96 },
    dailyCap: { max: 1, dayRows: 48 },
  });

  it('fires on a performance drop, then suppresses later drops until the cooldown in rows has passed', () => {
    const signals = [
      labelWindow(0, 0.9),
      labelWindow(1, 0.7),
      newData(1, 48),
      labelWindow(2, 0.7),
      newData(2, 48),
      labelWindow(3, 0.7),
    ];
    const { decisions, state } = replay(policy, signals);
    expect(decisions.map((d) => [d.sequence, d.outcome, d.reason])).toEqual([
      [1, 'fired', 'performance-drop'],
      [2, 'suppressed', 'performance-drop'],
      [3, 'fired', 'performance-drop'],
    ]);
    expect(decisions[1].why).toContain('cooldown: 48 of 96 rows since retrain #1');
    expect(decisions[0].requestId).toBe('elec2:policy:1');
    expect(decisions[2].requestId).toBe('elec2:policy:3');
    expect(state.rows).toBe(96);
  });

  it('decides the same whatever the wall-clock pace of the replay', () => {
    const signals = [labelWindow(1, 0.7), newData(1, 50), labelWindow(2, 0.6), newData(2, 50), labelWindow(3, 0.6)];
    const slow = replay(policy, signals, [0, 3_600_000, 7_200_000, 10_800_000, 14_400_000]);
    const fast = replay(policy, signals, [0, 1, 2, 3, 4]);
    const strip = (ds: RetrainDecision[]) => ds.map(({ clock: { wallTime: _w, ...clock }, ...d }) => ({ ...d, clock }));
    expect(strip(fast.decisions)).toEqual(strip(slow.decisions));
  });

  it('holds the daily cap counted in rows of data', () => {
    const capped = RetrainPolicy.parse({
      triggers: { performanceDrop: { below: 0.8 } },
      cooldown: { rows: 0 },
      dailyCap: { max: 2, dayRows: 48 },
    });
    const { decisions } = replay(capped, [
      labelWindow(1, 0.5),
      labelWindow(2, 0.5),
      labelWindow(3, 0.5),
      newData(1, 48),
      labelWindow(4, 0.5),
    ]);
    expect(decisions.map((d) => d.outcome)).toEqual(['fired', 'fired', 'suppressed', 'fired']);
    expect(decisions[2].why).toContain('daily cap: 2 of 2 retrains in this 48-row day');
  });

  it('returns the stored decision for a redelivered signal and changes nothing', () => {
    const { state } = replay(policy, [labelWindow(1, 0.7)]);
    const again = decide(state, labelWindow(1, 0.7), policy, 99);
    expect(again.next).toBeNull();
    expect(again.decision).toBeNull();
    expect(again.replayOf).toMatchObject({ sequence: 1, decision: { outcome: 'fired', requestId: 'elec2:policy:1' } });
  });

  it('keeps healthy windows and small data increments out of the decisions, but on the clock', () => {
    const { decisions, state } = replay(policy, [
      labelWindow(1, 0.95),
      newData(1, 10),
      labelWindow(2, 0.7, { labelledRows: 50 } as Partial<RetrainSignal>),
    ]);
    expect(decisions).toEqual([]);
    expect(state).toMatchObject({ rows: 10, decisions: 0 });
    expect(state.recent.map((r) => r.signalId)).toEqual(['label-window:1', 'dataset:1', 'label-window:2']);
  });

  it('fires on concept drift, on a rows schedule and on accumulated new data', () => {
    const withAll = RetrainPolicy.parse({
      triggers: { schedule: { everyRows: 300 }, newData: { rows: 200 } },
      dailyCap: { max: 10, dayRows: 48 },
    });
    const { decisions } = replay(withAll, [
      labelWindow(1, 0.9, { conceptDrift: { detector: 'adwin', detected: true } } as Partial<RetrainSignal>),
      newData(1, 150),
      newData(2, 100),
      labelWindow(2, 0.9),
    ]);
    expect(decisions.map((d) => [d.outcome, d.reason])).toEqual([
      ['fired', 'concept-drift'],
      ['fired', 'new-data'],
    ]);
    const scheduleOnly = RetrainPolicy.parse({ triggers: { schedule: { everyRows: 100 } } });
    const scheduled = replay(scheduleOnly, [newData(1, 60), labelWindow(1, 0.9), newData(2, 60), labelWindow(2, 0.9)]);
    expect(scheduled.decisions.map((d) => [d.outcome, d.reason, d.signalId])).toEqual([
      ['fired', 'schedule', 'dataset:2'],
    ]);
  });

  it('counts a cooldown in data time when the signals carry it', () => {
    const byTime = RetrainPolicy.parse({
      triggers: { performanceDrop: { below: 0.8 } },
      cooldown: { dataTime: '1d' },
      dailyCap: { max: 10 },
    });
    const day = 86_400_000;
    const { decisions } = replay(byTime, [
      labelWindow(1, 0.5, { dataTime: 0 }),
      labelWindow(2, 0.5, { dataTime: day / 2 }),
      labelWindow(3, 0.5, { dataTime: day }),
    ]);
    expect(decisions.map((d) => d.outcome)).toEqual(['fired', 'suppressed', 'fired']);
  });

  it('without a policy, asks once per drifting model version, as before policies', () => {
    const drift = (version: number, window: number): RetrainSignal => ({
      kind: 'feature-drift',
      signalId: `drift:${version}-${window}`,
      pipelineId: PIPELINE,
      modelVersion: version,
      driftedFeatures: 1,
      summary: 'age',
    });
    const { decisions } = replay(undefined, [drift(1, 1), drift(1, 2), labelWindow(3, 0.1), drift(2, 1)]);
    expect(decisions.map((d) => [d.outcome, d.requestId])).toEqual([
      ['fired', legacyDriftRequestId(PIPELINE, 1)],
      ['fired', legacyDriftRequestId(PIPELINE, 2)],
    ]);
  });

  it('without a policy, a drifting window of a version that already asked changes nothing (no write per window)', () => {
    const drift = (window: number): RetrainSignal => ({
      kind: 'feature-drift',
      signalId: `drift:1-${window}`,
      pipelineId: PIPELINE,
      modelVersion: 1,
      driftedFeatures: 1,
      dataTime: window * 1_000,
      summary: 'age',
    });
    const first = decide(INITIAL_POLICY_STATE, drift(1), undefined, 1_000);
    expect(first.decision?.outcome).toBe('fired');
    const later = decide(first.next!, drift(2), undefined, 2_000);
    expect(later).toEqual({ next: null, decision: null });
    // Its redelivery decides nothing either.
    expect(decide(first.next!, drift(2), undefined, 3_000)).toEqual({ next: null, decision: null });
  });
});
