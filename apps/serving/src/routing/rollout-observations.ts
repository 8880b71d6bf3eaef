import { status } from '@grpc/grpc-js';
import {
  type EventData,
  type ModelRolloutObservedV1,
  ROLLOUT_GROUPS_MAX,
  ROLLOUT_LATENCY_BOUNDS_MS,
  ROLLOUT_SAMPLE_MAX,
  type RolloutVersionObservation,
} from '@keel/contracts';
import { type ModelOutputs } from '../models/loaded-model';
import { type InputColumns } from '../inference/tensor-codec';
import { type VersionObservation } from '../inference/version-router';
import { type RoutingPlan } from './routing-table';

/**
 * Longest group name counted (a protected attribute's value comes from the caller): with ROLLOUT_GROUPS_MAX groups per
 * version, a report stays well inside the event's 32 KiB whatever callers send.
 */
const GROUP_NAME_MAX = 64;

/** Rows of one request that feed the prediction sample: enough for a uniform picture, bounded per request. */
const SAMPLED_ROWS_PER_REQUEST = 64;

/**
 * The version's own failures (with the inputs it refused that its signature accepts, and the calls its own joins' online
 * view failed: over a memory limit or not loaded); the caller's other mistakes, overload, cancellations and deadlines
 * are not its fault.
 */
const VERSION_FAILURES = new Set<number>([status.INTERNAL, status.UNKNOWN]);

/**
 * Values an output holds per row: 1, or k for a multiclass probability ([rows, k], row-major). The rows are the
 * request's (its inputs), else the label's.
 */
function valuesPerRow(values: Float64Array, outputs: ModelOutputs, inputs?: InputColumns): number {
  const label = outputs.label;
  const rows = inputs?.rows ?? (label !== undefined && !(label instanceof Float64Array) ? label.length : values.length);
  return rows > 0 && values.length > rows && values.length % rows === 0 ? values.length / rows : 1;
}

function rowMaximum(values: Float64Array, row: number, width: number): number {
  let largest = -Infinity;
  for (let column = row * width; column < (row + 1) * width; column++) largest = Math.max(largest, values[column]);
  return largest;
}

class VersionTally {
  requests = 0;
  errors = 0;
  readonly latencyCounts = new Array<number>(ROLLOUT_LATENCY_BOUNDS_MS.length + 1).fill(0);
  /** What the samples are of, as reported; `sampledOutput` is the output they are read from. */
  output?: string;
  private sampledOutput?: string;
  readonly samples: number[] = [];
  /** Rows and positive predictions per protected attribute and group (`attribute\u0000group`). */
  private readonly groups = new Map<string, { attribute: string; group: string; rows: number; positives: number }>();
  private rowsSeen = 0;

  constructor(
    readonly version: number,
    readonly role: RolloutVersionObservation['role'],
  ) {}

  add(observation: VersionObservation, protectedAttributes: readonly string[] = []): void {
    this.requests += 1;
    if (VERSION_FAILURES.has(observation.code) || observation.refused || observation.viewUnavailable) {
      this.errors += 1;
    }
    const ms = observation.seconds * 1000;
    let bucket = 0;
    while (bucket < ROLLOUT_LATENCY_BOUNDS_MS.length && ms > ROLLOUT_LATENCY_BOUNDS_MS[bucket]) bucket++;
    this.latencyCounts[bucket] += 1;
    if (observation.outputs) this.sample(observation.outputs, observation.inputs);
    if (observation.outputs && observation.inputs && protectedAttributes.length > 0) {
      this.countGroups(observation.outputs, observation.inputs, protectedAttributes);
    }
  }

  /** Binary classifiers: each row's group per protected attribute that is a text input, and whether it was positive. */
  private countGroups(outputs: ModelOutputs, inputs: InputColumns, attributes: readonly string[]): void {
    const probability = outputs.probability;
    if (!(probability instanceof Float64Array)) return;
    // A multiclass probability ([rows, k]) has no positive label to count.
    if (valuesPerRow(probability, outputs, inputs) !== 1) return;
    for (const attribute of attributes) {
      const values = inputs.columns[attribute];
      if (!Array.isArray(values)) continue;
      for (let row = 0; row < Math.min(values.length, probability.length); row++) {
        const group = (values[row] ?? '').slice(0, GROUP_NAME_MAX);
        const key = `${attribute}\u0000${group}`;
        let tally = this.groups.get(key);
        if (!tally) {
          if (this.groups.size >= ROLLOUT_GROUPS_MAX) continue;
          this.groups.set(key, (tally = { attribute, group, rows: 0, positives: 0 }));
        }
        tally.rows += 1;
        if (probability[row] >= 0.5) tally.positives += 1;
      }
    }
  }

  /**
   * Reservoir sampling (Algorithm R) over the interval's rows of the first numeric output: its value per row, or for a
   * multiclass probability ([rows, k], row-major) the row's largest class probability (the predicted class's), so
   * every sample is one row's and baseline and candidate are compared on the same quantity.
   */
  private sample(outputs: ModelOutputs, inputs?: InputColumns): void {
    const name = this.sampledOutput ?? Object.keys(outputs).find((key) => outputs[key] instanceof Float64Array);
    const values = name === undefined ? undefined : outputs[name];
    if (!(values instanceof Float64Array)) return;
    const width = valuesPerRow(values, outputs, inputs);
    this.sampledOutput = name;
    this.output = width === 1 ? name : `max(${name})`;
    const rows = Math.min(values.length / width, SAMPLED_ROWS_PER_REQUEST);
    for (let row = 0; row < rows; row++) {
      const value = width === 1 ? values[row] : rowMaximum(values, row, width);
      if (!Number.isFinite(value)) continue;
      this.rowsSeen += 1;
      if (this.samples.length < ROLLOUT_SAMPLE_MAX) this.samples.push(value);
      else {
        const slot = Math.floor(Math.random() * this.rowsSeen);
        if (slot < ROLLOUT_SAMPLE_MAX) this.samples[slot] = value;
      }
    }
  }

  toJSON(): RolloutVersionObservation {
    return {
      version: this.version,
      role: this.role,
      requests: this.requests,
      errors: this.errors,
      latencyCounts: [...this.latencyCounts],
      ...(this.output !== undefined ? { output: this.output } : {}),
      samples: [...this.samples],
      ...(this.groups.size > 0 ? { groups: [...this.groups.values()].map((group) => ({ ...group })) } : {}),
    };
  }
}

interface StepTally {
  modelName: string;
  plan: RoutingPlan;
  start: Date;
  versions: Map<number, VersionTally>;
  shadow: { rows: number; agreed: number };
}

/**
 * What this serving instance saw of each rollout step it routed, between two reports: per version (baseline and
 * candidate of the plan the request followed) requests, the version's own failures, latency buckets and a sample of
 * its first numeric output; for shadow, how often the mirror's answers agreed with the baseline's. Recording is a few
 * Map lookups per request; {@link drain} turns the tallies into `mlops.model.rollout-observed.v1` payloads.
 */
export class RolloutObservations {
  private readonly steps = new Map<string, StepTally>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Tallies one routed request or mirror; `protectedAttributes` are the pipeline's, for the fairness gap. */
  record(
    modelName: string,
    plan: RoutingPlan,
    observation: VersionObservation,
    protectedAttributes: readonly string[] = [],
  ): void {
    const role =
      observation.version === plan.candidateVersion
        ? 'candidate'
        : observation.version === plan.baselineVersion
          ? 'baseline'
          : undefined;
    if (!role) return;
    const step = this.step(modelName, plan);
    let tally = step.versions.get(observation.version);
    if (!tally) step.versions.set(observation.version, (tally = new VersionTally(observation.version, role)));
    tally.add(observation, protectedAttributes);
  }

  /** Counts rows the mirror scored beside the answer, and those whose answers agreed (same label, or value). */
  compare(modelName: string, plan: RoutingPlan, answer: ModelOutputs, mirror: ModelOutputs): void {
    const step = this.step(modelName, plan);
    // The label when there is one (agreement on the decision), else the first output both have.
    const shared = Object.keys(answer).filter((key) => key in mirror);
    const name = shared.find((key) => !(answer[key] instanceof Float64Array)) ?? shared[0];
    if (name === undefined) return;
    const [a, m] = [answer[name], mirror[name]];
    const rows = Math.min(a.length, m.length);
    let agreed = 0;
    for (let row = 0; row < rows; row++) {
      const [x, y] = [a[row], m[row]];
      if (typeof x === 'number' && typeof y === 'number' ? Math.abs(x - y) <= 1e-9 : x === y) agreed += 1;
    }
    step.shadow.rows += rows;
    step.shadow.agreed += agreed;
  }

  /** The tallies since the last drain as event payloads (one per model and rollout revision), and a fresh start. */
  drain(instance: string): EventData<typeof ModelRolloutObservedV1>[] {
    const end = this.now();
    const reports = [...this.steps.values()]
      .filter((step) => step.versions.size > 0)
      .map((step) => ({
        modelName: step.modelName,
        rolloutId: step.plan.rolloutId,
        revision: step.plan.revision,
        instance,
        intervalStart: step.start.toISOString(),
        intervalEnd: end.toISOString(),
        versions: [...step.versions.values()].map((tally) => tally.toJSON()),
        ...(step.shadow.rows > 0 ? { shadow: { ...step.shadow } } : {}),
      }));
    this.steps.clear();
    return reports;
  }

  private step(modelName: string, plan: RoutingPlan): StepTally {
    const key = `${modelName}\u0000${plan.rolloutId}\u0000${plan.revision}`;
    let step = this.steps.get(key);
    if (!step) {
      step = { modelName, plan, start: this.now(), versions: new Map(), shadow: { rows: 0, agreed: 0 } };
      this.steps.set(key, step);
    }
    return step;
  }
}
