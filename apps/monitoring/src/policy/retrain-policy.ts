import { durationMs, type RetrainPolicy, type TrainingReason } from '@keel/contracts';

/**
 * Something the policy hears about a pipeline. `signalId` names it uniquely and stably (a redelivered event is the same
 * signal); `dataTime` (epoch ms) is the time the data it describes happened, when the signal knows it.
 */
export type RetrainSignal = {
  signalId: string;
  pipelineId: string;
  modelVersion?: number;
  dataTime?: number;
  /** One line for the decision record. */
  summary: string;
} & (
  | { kind: 'feature-drift'; driftedFeatures: number }
  | { kind: 'prediction-drift' }
  | {
      /** A closed window of labelled predictions: its metrics, and whether the concept-drift detector fired in it. */
      kind: 'label-window';
      metrics: Partial<Record<string, number>>;
      labelledRows: number;
      conceptDrift?: { detector: string; detected: boolean };
    }
  | {
      kind: 'new-data';
      rows: number;
      /** The validated version the rows arrived in: a retrain it fires must train on a window that includes it. */
      datasetVersionId: string;
    }
);

/** Where a pipeline's policy stands: its clocks and its last retrain. Stored as one versioned document per pipeline. */
export interface PolicyState extends Record<string, unknown> {
  /** Rows of new data received so far: the policy's row clock. */
  rows: number;
  /** The latest data time any signal reported (epoch ms), or null. */
  dataTime: number | null;
  /** Decisions made so far: the next decision's sequence number is this plus one. */
  decisions: number;
  /** The last retrain this policy fired, on each clock. */
  lastFired: { sequence: number; rows: number; dataTime: number | null; wallTime: number } | null;
  /** Retrains fired in the current day (by the cap's day) and which day that is. */
  day: { index: number; fired: number } | null;
  /** Model versions a feature drift already fired for, when the pipeline has no policy (one request per version). */
  driftFiredVersions: number[];
  /** Signals already decided, newest last, with what was decided: a redelivery finds its decision here. */
  recent: { signalId: string; sequence: number | null }[];
  /**
   * The latest decisions themselves: a redelivery after a crash between storing the state and recording the decision
   * (or publishing its request) finds it here and finishes the job.
   */
  latestDecisions: RetrainDecision[];
}

export const INITIAL_POLICY_STATE: PolicyState = {
  rows: 0,
  dataTime: null,
  decisions: 0,
  lastFired: null,
  day: null,
  driftFiredVersions: [],
  recent: [],
  latestDecisions: [],
};

/** How many decisions a state keeps whole. */
const LATEST_DECISIONS = 20;

/** How many decided signal ids a state remembers (redeliveries come soon after the first delivery). */
const RECENT_SIGNALS = 200;

/** A decision about a signal that met a trigger. */
export interface RetrainDecision {
  sequence: number;
  signalId: string;
  signalKind: RetrainSignal['kind'];
  outcome: 'fired' | 'suppressed';
  /** The training reason a fired request carries (also set on suppressed ones: what it would have been). */
  reason: TrainingReason;
  /** Why it fired or why it was suppressed, in words. */
  why: string;
  /** The training request a fired decision published. */
  requestId?: string;
  modelVersion?: number;
  clock: { rows: number; dataTime: number | null; wallTime: number };
}

export interface PolicyOutcome {
  /** The state to store; null when nothing changed (a redelivered signal). */
  next: PolicyState | null;
  /** The decision the signal led to, if it met a trigger. */
  decision: RetrainDecision | null;
  /** The signal was decided before: its decision (null when it met no trigger, undefined when no longer kept). */
  replayOf?: { sequence: number | null; decision?: RetrainDecision | null };
}

/** The request id of a fired decision: stable, so a redelivery republishes the same request and training runs once. */
export function retrainRequestId(pipelineId: string, sequence: number): string {
  return `${pipelineId}:policy:${sequence}`;
}

/** Request id of the one drift retrain per model version of a pipeline without a policy (as before policies). */
export function legacyDriftRequestId(pipelineId: string, modelVersion: number): string {
  return `${pipelineId}:drift:v${modelVersion}`;
}

const DAY_MS = 86_400_000;

/**
 * Decides what a signal means for a pipeline: pure, so it can run again on a fresh state when another replica moved
 * the state first. `policy` undefined is a pipeline without a retrain policy: one feature-drift retrain per model
 * version, nothing else (new data already trains every version).
 */
export function decide(
  state: PolicyState,
  signal: RetrainSignal,
  policy: RetrainPolicy | undefined,
  wallTime: number,
): PolicyOutcome {
  const seen = state.recent.find((entry) => entry.signalId === signal.signalId);
  if (seen) {
    const decision =
      seen.sequence === null ? null : state.latestDecisions.find((kept) => kept.sequence === seen.sequence);
    return { next: null, decision: null, replayOf: { sequence: seen.sequence, decision } };
  }

  const rows = state.rows + (signal.kind === 'new-data' ? signal.rows : 0);
  const dataTime =
    signal.dataTime === undefined ? state.dataTime : Math.max(state.dataTime ?? signal.dataTime, signal.dataTime);
  const clock = { rows, dataTime, wallTime };
  const advanced: PolicyState = { ...state, rows, dataTime };

  const trigger = policy ? triggered(advanced, signal, policy) : legacyTrigger(advanced, signal);
  // Without a policy only the row clock and the versions fired matter: a signal that moves neither (every drifting
  // window of a version that already asked) leaves the state as it was, so persistent drift writes nothing per window.
  // Its redelivery decides nothing again either, so it need not be remembered.
  if (!trigger && !policy && rows === state.rows) return { next: null, decision: null };
  if (!trigger) return { next: remember(advanced, signal.signalId, null), decision: null };

  const sequence = state.decisions + 1;
  const base = {
    sequence,
    signalId: signal.signalId,
    signalKind: signal.kind,
    reason: trigger.reason,
    ...(signal.modelVersion === undefined ? {} : { modelVersion: signal.modelVersion }),
    clock,
  };
  const blocked = policy ? suppression(advanced, policy, clock) : null;
  if (blocked) {
    const decision: RetrainDecision = { ...base, outcome: 'suppressed', why: `${trigger.why}; suppressed: ${blocked}` };
    return { next: remember({ ...advanced, decisions: sequence }, signal.signalId, sequence, decision), decision };
  }
  const requestId =
    !policy && signal.modelVersion !== undefined
      ? legacyDriftRequestId(signal.pipelineId, signal.modelVersion)
      : retrainRequestId(signal.pipelineId, sequence);
  const dayIndex = policy ? dayOf(policy, clock) : 0;
  const firedToday = state.day?.index === dayIndex ? state.day.fired : 0;
  const next: PolicyState = {
    ...advanced,
    decisions: sequence,
    lastFired: { sequence, rows, dataTime, wallTime },
    day: { index: dayIndex, fired: firedToday + 1 },
    driftFiredVersions:
      !policy && signal.modelVersion !== undefined
        ? [...state.driftFiredVersions, signal.modelVersion].slice(-50)
        : state.driftFiredVersions,
  };
  const decision: RetrainDecision = { ...base, outcome: 'fired', why: trigger.why, requestId };
  return { next: remember(next, signal.signalId, sequence, decision), decision };
}

function remember(
  state: PolicyState,
  signalId: string,
  sequence: number | null,
  decision?: RetrainDecision,
): PolicyState {
  return {
    ...state,
    recent: [...state.recent, { signalId, sequence }].slice(-RECENT_SIGNALS),
    latestDecisions: decision ? [...state.latestDecisions, decision].slice(-LATEST_DECISIONS) : state.latestDecisions,
  };
}

interface Trigger {
  reason: TrainingReason;
  why: string;
}

function legacyTrigger(state: PolicyState, signal: RetrainSignal): Trigger | null {
  if (signal.kind !== 'feature-drift' || signal.modelVersion === undefined) return null;
  if (state.driftFiredVersions.includes(signal.modelVersion)) return null;
  return {
    reason: 'feature-drift',
    why: `feature drift (no retrain policy: once per model version): ${signal.summary}`,
  };
}

/** The trigger a signal meets under the policy, or null. */
function triggered(state: PolicyState, signal: RetrainSignal, policy: RetrainPolicy): Trigger | null {
  const { triggers } = policy;
  switch (signal.kind) {
    case 'feature-drift':
      return triggers.featureDrift.enabled && signal.driftedFeatures >= triggers.featureDrift.minFeatures
        ? { reason: 'feature-drift', why: `feature drift: ${signal.summary}` }
        : scheduled(state, policy);
    case 'prediction-drift':
      return triggers.predictionDrift.enabled
        ? { reason: 'feature-drift', why: `prediction drift: ${signal.summary}` }
        : scheduled(state, policy);
    case 'label-window': {
      const drop = triggers.performanceDrop;
      const value = signal.metrics[drop.metric];
      const enoughRows = signal.labelledRows >= drop.minRows;
      if (value !== undefined && enoughRows && drop.below !== undefined && value < drop.below) {
        return {
          reason: 'performance-drop',
          why: `${drop.metric} ${value.toFixed(4)} < ${drop.below} on ${signal.labelledRows} labelled rows: ${signal.summary}`,
        };
      }
      if (value !== undefined && enoughRows && drop.above !== undefined && value > drop.above) {
        return {
          reason: 'performance-drop',
          why: `${drop.metric} ${value.toFixed(4)} > ${drop.above} on ${signal.labelledRows} labelled rows: ${signal.summary}`,
        };
      }
      if (triggers.conceptDrift.enabled && signal.conceptDrift?.detected) {
        return { reason: 'concept-drift', why: `concept drift (${signal.conceptDrift.detector}): ${signal.summary}` };
      }
      return scheduled(state, policy);
    }
    case 'new-data': {
      const since = state.rows - (state.lastFired?.rows ?? 0);
      if (triggers.newData && since >= triggers.newData.rows) {
        return {
          reason: 'new-data',
          why: `${since} rows of new data since the last retrain (>= ${triggers.newData.rows})`,
        };
      }
      return scheduled(state, policy);
    }
  }
}

/** The schedule, checked on every signal: due when its rows or data time passed since the last retrain. */
function scheduled(state: PolicyState, policy: RetrainPolicy): Trigger | null {
  const schedule = policy.triggers.schedule;
  if (!schedule) return null;
  const rowsSince = state.rows - (state.lastFired?.rows ?? 0);
  if (schedule.everyRows !== undefined && rowsSince >= schedule.everyRows) {
    return {
      reason: 'schedule',
      why: `schedule: ${rowsSince} rows since the last retrain (every ${schedule.everyRows})`,
    };
  }
  const from = state.lastFired?.dataTime ?? null;
  if (schedule.every !== undefined && state.dataTime !== null && from !== null) {
    if (state.dataTime - from >= durationMs(schedule.every)) {
      return { reason: 'schedule', why: `schedule: ${schedule.every} of data time since the last retrain` };
    }
  }
  return null;
}

/** Why a triggered retrain may not fire now (cooldown or daily cap), or null when it may. */
function suppression(state: PolicyState, policy: RetrainPolicy, clock: RetrainDecision['clock']): string | null {
  const last = state.lastFired;
  if (last) {
    const { cooldown } = policy;
    const rowsSince = clock.rows - last.rows;
    if (rowsSince < cooldown.rows)
      return `cooldown: ${rowsSince} of ${cooldown.rows} rows since retrain #${last.sequence}`;
    if (cooldown.dataTime !== undefined) {
      const need = durationMs(cooldown.dataTime);
      const since = clock.dataTime !== null && last.dataTime !== null ? clock.dataTime - last.dataTime : 0;
      if (since < need)
        return `cooldown: ${formatMs(since)} of ${cooldown.dataTime} of data time since retrain #${last.sequence}`;
    }
    if (cooldown.wallTime !== undefined) {
      const since = clock.wallTime - last.wallTime;
      if (since < durationMs(cooldown.wallTime)) {
        return `cooldown: ${formatMs(since)} of ${cooldown.wallTime} of wall time since retrain #${last.sequence}`;
      }
    }
  }
  const day = dayOf(policy, clock);
  const fired = state.day?.index === day ? state.day.fired : 0;
  if (fired >= policy.dailyCap.max) {
    const unit = policy.dailyCap.dayRows !== undefined ? `${policy.dailyCap.dayRows}-row day` : 'day';
    return `daily cap: ${fired} of ${policy.dailyCap.max} retrains in this ${unit}`;
  }
  return null;
}

/** The cap's day of a clock: by rows when the policy counts days in rows, else by data time, else by wall time. */
function dayOf(policy: RetrainPolicy, clock: RetrainDecision['clock']): number {
  if (policy.dailyCap.dayRows !== undefined) return Math.floor(clock.rows / policy.dailyCap.dayRows);
  return Math.floor((clock.dataTime ?? clock.wallTime) / DAY_MS);
}

function formatMs(ms: number): string {
  if (ms >= DAY_MS) return `${(ms / DAY_MS).toFixed(1)}d`;
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  return `${Math.round(ms / 1000)}s`;
}
