import { status } from '@grpc/grpc-js';
import { ModelRolloutObservedV1, ROLLOUT_SAMPLE_MAX } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { RolloutObservations } from './rollout-observations';
import { type RoutingPlan } from './routing-table';

const plan: RoutingPlan = {
  rolloutId: 'm/v4/7',
  baselineVersion: 3,
  candidateVersion: 4,
  candidateWeight: 10,
  mirrored: false,
  revision: 7,
};
const probabilities = (...values: number[]) => ({ probability: Float64Array.from(values), label: values.map(String) });

describe('rollout observations in serving', () => {
  it('tallies baseline and candidate of the plan: requests, own failures, latency buckets, prediction samples', () => {
    const observations = new RolloutObservations(() => new Date('2026-12-02T10:00:00Z'));
    observations.record('m', plan, {
      version: 3,
      code: status.OK,
      seconds: 0.002,
      outputs: probabilities(0.2, 0.3),
      mirror: false,
    });
    observations.record('m', plan, { version: 4, code: status.INTERNAL, seconds: 0.004, mirror: false });
    // The caller's mistake is not the version's failure; a version outside the plan is not tallied.
    observations.record('m', plan, { version: 4, code: status.INVALID_ARGUMENT, seconds: 0.0001, mirror: false });
    observations.record('m', plan, { version: 9, code: status.OK, seconds: 0.001, mirror: false });
    // A row the candidate's own preprocessing refuses (a category it never saw) is its failure, not the caller's.
    observations.record('m', plan, {
      version: 4,
      code: status.INVALID_ARGUMENT,
      refused: true,
      seconds: 0.0001,
      mirror: false,
    });
    const [report, ...others] = observations.drain('serving-1');
    expect(others).toEqual([]);
    expect(ModelRolloutObservedV1.schema.safeParse(report).success).toBe(true);
    expect(report).toMatchObject({ modelName: 'm', rolloutId: 'm/v4/7', revision: 7, instance: 'serving-1' });
    expect(report.versions).toEqual([
      expect.objectContaining({
        version: 3,
        role: 'baseline',
        requests: 1,
        errors: 0,
        output: 'probability',
        samples: [0.2, 0.3],
      }),
      expect.objectContaining({ version: 4, role: 'candidate', requests: 3, errors: 2, samples: [] }),
    ]);
    expect(report.versions[0].latencyCounts[1]).toBe(1);
    expect(report.versions[1].latencyCounts.slice(0, 3)).toEqual([2, 0, 1]);
    expect(observations.drain('serving-1')).toEqual([]);
  });

  it("counts the calls a version's own joined view failed (over a limit, not loaded) as its failures; shed calls not", () => {
    const observations = new RolloutObservations();
    const call = (code: status, viewUnavailable?: boolean) =>
      observations.record('m', plan, { version: 4, code, viewUnavailable, seconds: 0.0001, mirror: false });
    call(status.RESOURCE_EXHAUSTED, true);
    call(status.UNAVAILABLE, true);
    // Shed, or the caller's missing entity key: not the version's failures.
    call(status.RESOURCE_EXHAUSTED);
    call(status.INVALID_ARGUMENT);
    const [report] = observations.drain('serving-1');
    expect(report.versions).toEqual([expect.objectContaining({ version: 4, requests: 4, errors: 2 })]);
  });

  it('counts rows and positive predictions per group of each protected attribute among the inputs', () => {
    const observations = new RolloutObservations();
    const inputs = { rows: 3, columns: { sex: ['Male', 'Female', null], age: Float64Array.from([30, 40, 50]) } };
    const seen = { version: 4, code: status.OK, seconds: 0.001, outputs: probabilities(0.7, 0.2, 0.9), inputs };
    observations.record('m', plan, { ...seen, mirror: false }, ['sex', 'age', 'race']);
    observations.record('m', plan, { ...seen, mirror: false }, ['sex']);
    const [report] = observations.drain('serving-1');
    expect(ModelRolloutObservedV1.schema.safeParse(report).success).toBe(true);
    // Numeric inputs and attributes that are not inputs have no groups.
    expect(report.versions[0].groups).toEqual([
      { attribute: 'sex', group: 'Male', rows: 2, positives: 2 },
      { attribute: 'sex', group: 'Female', rows: 2, positives: 0 },
      { attribute: 'sex', group: '', rows: 2, positives: 2 },
    ]);
  });

  it("keeps a report of callers' most varied and longest protected values inside the event's size", () => {
    const observations = new RolloutObservations();
    for (let i = 0; i < 500; i++) {
      const inputs = { rows: 1, columns: { sex: [`${i}`.padEnd(1_000, 'x')] } };
      for (const version of [3, 4]) {
        observations.record(
          'm',
          plan,
          { version, code: status.OK, seconds: 0.001, outputs: probabilities(i / 500), inputs, mirror: false },
          ['sex'],
        );
      }
    }
    const [report] = observations.drain('serving-1');
    expect(report.versions.map((seen) => seen.groups?.length)).toEqual([64, 64]);
    expect(Buffer.byteLength(JSON.stringify(report))).toBeLessThan(ModelRolloutObservedV1.maxBytes);
  });

  it('given a multiclass model, then each row is sampled once, as its largest class probability, and no group counted', () => {
    const observations = new RolloutObservations();
    // Two rows of three classes, row-major: the sample holds one value per row, not the six class probabilities.
    const outputs = { probability: Float64Array.from([0.2, 0.7, 0.1, 0.5, 0.3, 0.2]), label: ['b', 'a'] };
    const inputs = { rows: 2, columns: { sex: ['Female', 'Male'] } };
    observations.record('m', plan, { version: 3, code: status.OK, seconds: 0.001, outputs, inputs, mirror: false }, [
      'sex',
    ]);
    const [report] = observations.drain('serving-1');
    expect(report.versions[0]).toMatchObject({ output: 'max(probability)', samples: [0.7, 0.5] });
    expect(report.versions[0].groups).toBeUndefined();
  });

  it('keeps a bounded uniform sample, and counts shadow agreement', () => {
    const observations = new RolloutObservations();
    const shadow = { ...plan, candidateWeight: 0, mirrored: true, revision: 8 };
    for (let i = 0; i < 1_000; i++) {
      observations.record('m', shadow, {
        version: 4,
        code: status.OK,
        seconds: 0.001,
        outputs: probabilities(i / 1_000),
        mirror: true,
      });
    }
    observations.compare('m', shadow, probabilities(0.1, 0.2, 0.3), probabilities(0.1, 0.25, 0.3));
    const [report] = observations.drain('serving-1');
    expect(report.versions[0].samples).toHaveLength(ROLLOUT_SAMPLE_MAX);
    expect(report.shadow).toEqual({ rows: 3, agreed: 2 });
    expect(JSON.stringify(report).length).toBeLessThan(ModelRolloutObservedV1.maxBytes);
  });
});
