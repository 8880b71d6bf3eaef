import { type EventData, type PredictionLoggedV2 } from '@keel/contracts';
import {
  CategoricalSummary,
  type CategoricalSummaryJson,
  NumericSummary,
  type NumericSummaryJson,
} from '@keel/ml-stats';
import { type FeatureReference } from '@keel/model-package';
import {
  emptySummaries,
  summariesFromJson,
  summariesToJson,
  toCategory,
  toNumber,
  type WindowSummaries,
} from '../drift/drift-evaluator';
import { windowId } from '../drift/drift-window.repository';
import { fullWindows, windowIndexOf } from '../drift/window-numbering';

export type PredictionBatch = EventData<typeof PredictionLoggedV2>;

/** What a version's windows need from outside the stream, resolved once per version before its rows are applied. */
export interface VersionSetup {
  /** Rows per window (the pipeline spec's), fixed when the version's first rows arrive. */
  windowRows: number;
  /** Set: windows by served time instead, this many ms each (aligned to the epoch), fixed like windowRows. */
  windowMs?: number;
  /** The training reference of the version's package; absent when none can be had (its windows then fail). */
  reference?: Readonly<Record<string, FeatureReference>>;
  /** Why the version has no reference. */
  failure?: string;
  /**
   * Rows the version had numbered before this stream took it over (a counter kept by an earlier monitoring): its
   * windows continue after the window those rows reached, so no window index is used twice.
   */
  countBefore?: number;
}

/** A model output's distribution over one window. */
export type OutputSummary =
  | {
      name: string;
      kind: 'numeric';
      count: number;
      missing: number;
      mean: number;
      std: number;
      min: number;
      max: number;
      p10: number;
      p50: number;
      p90: number;
    }
  | {
      name: string;
      kind: 'categorical';
      count: number;
      missing: number;
      /** The most frequent categories, most frequent first (objects: the store takes no nested arrays). */
      categories: { category: string; count: number }[];
    };

/** A window that received its last row: what its report is made of. */
export interface ClosedWindow {
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  windowIndex: number;
  rowCount: number;
  /** Earliest and latest servedAt of its rows, epoch ms. */
  windowStart: number;
  windowEnd: number;
  /** Its feature summaries (summariesToJson); absent when the window failed. */
  summariesJson?: string;
  /** Why the window cannot be evaluated (no reference for its version). */
  failure?: string;
  outputs: OutputSummary[];
  windowBy: 'rows' | 'time';
  /** Its output summaries and those of the version's first window (the baseline), for prediction drift. */
  predictionDrift?: { outputsJson: string; baselineJson: string };
}

type Summary = NumericSummary | CategoricalSummary;

interface OpenWindow {
  index: number;
  rowCount: number;
  start: number;
  end: number;
  /** Absent when the window failed. */
  features?: WindowSummaries;
  failure?: string;
  outputs: Map<string, Summary>;
}

interface VersionState {
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  windowRows: number;
  /** Windows by served time: ms per window (row at t belongs to window floor(t / windowMs)). */
  windowMs?: number;
  /** Rows numbered so far: by rows, row n (1-based) belongs to window floor((n − 1) / windowRows). */
  count: number;
  /** The window the next row goes to, once it holds a row. */
  window?: OpenWindow;
  /** Output summaries of the version's first closed window (JSON): the baseline of prediction drift. */
  baselineOutputs?: string;
}

interface OpenWindowJson {
  index: number;
  rowCount: number;
  start: number;
  end: number;
  features?: string;
  failure?: string;
  outputs: [string, NumericSummaryJson | CategoricalSummaryJson][];
}

interface VersionStateJson extends Omit<VersionState, 'window'> {
  window?: OpenWindowJson;
}

/** JSON form of a partition's state, as a checkpoint stores it. */
export interface PartitionStateJson {
  format: 1;
  nextOffset: number;
  versions: VersionStateJson[];
  counts: [pipelineId: string, rows: number][];
  recentBatchIds: string[];
}

/** Batch ids remembered for deduplication: far more than a serving retry can put between two copies of a batch. */
export const RECENT_BATCH_IDS = 20_000;
/** Sketch size of output summaries: their quantiles are descriptive, so a small sketch is enough. */
const OUTPUT_SKETCH_K = 128;
const MAX_OUTPUT_CATEGORIES = 50;

/**
 * The in-memory state of one partition of the prediction log: for every model version whose rows it carries, the
 * count of rows numbered and the open window's mergeable summaries (features on the reference's bins, outputs);
 * rows logged per pipeline; the recent batch ids. Applying a batch is O(1) per row and cell and synchronous; a batch
 * seen before (same batchId) changes nothing. Given the same batches in the same order, the state (and every window
 * closed) is the same, whether or not it went through toJSON/fromJSON in between: that is what makes a checkpoint
 * plus a replay of the log after it equal to an uninterrupted run.
 */
export class PartitionState {
  /** Offset of the next record to apply. */
  nextOffset: number;
  private readonly versions = new Map<string, VersionState>();
  private readonly counts = new Map<string, number>();
  private readonly recent: string[];
  private readonly recentSet: Set<string>;

  constructor(nextOffset = 0, recent: readonly string[] = []) {
    this.nextOffset = nextOffset;
    this.recent = recent.slice(-RECENT_BATCH_IDS);
    this.recentSet = new Set(this.recent);
  }

  /** True when the version's rows have been seen before (its setup then need not be resolved again). */
  knows(pipelineId: string, modelVersion: number): boolean {
    return this.versions.has(versionKey(pipelineId, modelVersion));
  }

  /** True when a batch of this id was applied (within the last RECENT_BATCH_IDS batches). */
  hasApplied(batchId: string): boolean {
    return this.recentSet.has(batchId);
  }

  /** Rows logged for a pipeline in this partition. */
  rowsOf(pipelineId: string): number {
    return this.counts.get(pipelineId) ?? 0;
  }

  /** Rows logged per pipeline in this partition. */
  rowCounts(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /**
   * Applies a batch: numbers its rows after the version's count, adds each row to its window's summaries and closes
   * the windows that fill up. `setup` is read only when the version is new to the partition or a window opens.
   * Returns the windows closed, in order; an already applied batch id returns none and changes nothing.
   */
  apply(batch: PredictionBatch, setup: VersionSetup): ClosedWindow[] {
    if (this.recentSet.has(batch.batchId)) return [];
    this.remember(batch.batchId);
    const key = versionKey(batch.pipelineId, batch.modelVersion);
    let version = this.versions.get(key);
    if (!version) {
      const windowRows = setup.windowRows;
      version = {
        pipelineId: batch.pipelineId,
        modelName: batch.modelName,
        modelVersion: batch.modelVersion,
        windowRows,
        ...(setup.windowMs ? { windowMs: setup.windowMs } : {}),
        count: Math.ceil((setup.countBefore ?? 0) / windowRows) * windowRows,
      };
      this.versions.set(key, version);
    }
    const closed = version.windowMs ? applyByTime(version, batch, setup, version.windowMs) : [];
    if (version.windowMs) {
      this.counts.set(batch.pipelineId, (this.counts.get(batch.pipelineId) ?? 0) + batch.rows);
      return closed;
    }
    for (let from = 0; from < batch.rows;) {
      const window = (version.window ??= openWindow(version, setup));
      const to = Math.min(batch.rows, from + version.windowRows - window.rowCount);
      addRows(window, batch, from, to);
      version.count += to - from;
      from = to;
      if (fullWindows(version.count, version.windowRows) > window.index) {
        closed.push(closeWindow(version, window));
        version.window = undefined;
      }
    }
    this.counts.set(batch.pipelineId, (this.counts.get(batch.pipelineId) ?? 0) + batch.rows);
    return closed;
  }

  toJSON(): PartitionStateJson {
    return {
      format: 1,
      nextOffset: this.nextOffset,
      versions: [...this.versions.values()].map(({ window, ...version }) => ({
        ...version,
        ...(window ? { window: windowToJson(window) } : {}),
      })),
      counts: [...this.counts],
      recentBatchIds: [...this.recent],
    };
  }

  static fromJSON(json: PartitionStateJson): PartitionState {
    if (json.format !== 1) throw new Error(`unknown partition state format ${String(json.format)}`);
    const state = new PartitionState(json.nextOffset, json.recentBatchIds);
    for (const { window, ...version } of json.versions) {
      state.versions.set(versionKey(version.pipelineId, version.modelVersion), {
        ...version,
        ...(window ? { window: windowFromJson(window) } : {}),
      });
    }
    for (const [pipelineId, rows] of json.counts) state.counts.set(pipelineId, rows);
    return state;
  }

  private remember(batchId: string): void {
    this.recent.push(batchId);
    this.recentSet.add(batchId);
    if (this.recent.length > RECENT_BATCH_IDS) this.recentSet.delete(this.recent.shift()!);
  }
}

function versionKey(pipelineId: string, modelVersion: number): string {
  return `${pipelineId}|${modelVersion}`;
}

/**
 * Rows of a batch into time windows: a row goes to the open window unless its servedAt falls in a later one, which
 * closes the open window and opens that one (a row older than the open window is counted into it: data time moves
 * forward only). O(1) per row and cell.
 */
function applyByTime(
  version: VersionState,
  batch: PredictionBatch,
  setup: VersionSetup,
  windowMs: number,
): ClosedWindow[] {
  const closed: ClosedWindow[] = [];
  const { servedAt } = batch;
  for (let from = 0; from < batch.rows;) {
    const index = Math.floor(servedAt[from] / windowMs);
    let window = version.window;
    if (window && index > window.index) {
      closed.push(closeWindow(version, window));
      window = version.window = undefined;
    }
    window ??= version.window = openWindow(version, setup, index);
    let to = from + 1;
    while (to < batch.rows && Math.floor(servedAt[to] / windowMs) <= window.index) to++;
    addRows(window, batch, from, to);
    version.count += to - from;
    from = to;
  }
  return closed;
}

function openWindow(version: VersionState, setup: VersionSetup, timeIndex?: number): OpenWindow {
  return {
    // The window of the version's next row.
    index: timeIndex ?? windowIndexOf(version.count + 1, version.windowRows),
    rowCount: 0,
    start: Number.POSITIVE_INFINITY,
    end: Number.NEGATIVE_INFINITY,
    ...(setup.reference
      ? { features: emptySummaries(setup.reference) }
      : { failure: setup.failure ?? 'the model version has no drift reference' }),
    outputs: new Map(),
  };
}

/** Rows [from, to) of a batch into a window: O(1) per row and cell. */
function addRows(window: OpenWindow, batch: PredictionBatch, from: number, to: number): void {
  const rows = to - from;
  for (const [feature, summary] of window.features ?? []) {
    const column = batch.inputs[feature];
    if (!column) summary.addMissing(rows);
    else if (summary instanceof NumericSummary) for (let i = from; i < to; i++) summary.add(toNumber(column[i]));
    else for (let i = from; i < to; i++) summary.add(toCategory(column[i]));
  }
  for (const [name, column] of Object.entries(batch.outputs)) {
    let summary = window.outputs.get(name);
    if (!summary) {
      summary = outputSummaryFor(column, from, to);
      // Rows of the window that came without this output.
      summary.addMissing(window.rowCount);
      window.outputs.set(name, summary);
    }
    if (summary instanceof NumericSummary) for (let i = from; i < to; i++) summary.add(toNumber(column[i]));
    else for (let i = from; i < to; i++) summary.add(toCategory(column[i]));
  }
  for (const [name, summary] of window.outputs) if (!(name in batch.outputs)) summary.addMissing(rows);
  const servedAt = batch.servedAt;
  for (let i = from; i < to; i++) {
    const at = servedAt[i];
    if (at < window.start) window.start = at;
    if (at > window.end) window.end = at;
  }
  window.rowCount += rows;
}

/** Numeric when the output's first value in the batch is a number, categorical otherwise. */
function outputSummaryFor(column: readonly (number | string)[], from: number, to: number): Summary {
  for (let i = from; i < to; i++) {
    if (typeof column[i] === 'number') return new NumericSummary([], { sketchK: OUTPUT_SKETCH_K });
    if (typeof column[i] === 'string') return new CategoricalSummary();
  }
  return new CategoricalSummary();
}

function closeWindow(version: VersionState, window: OpenWindow): ClosedWindow {
  const outputsJson = JSON.stringify([...window.outputs].map(([name, summary]) => [name, summary.toJSON()]));
  const baselineJson = version.baselineOutputs;
  version.baselineOutputs ??= outputsJson;
  return {
    pipelineId: version.pipelineId,
    modelName: version.modelName,
    modelVersion: version.modelVersion,
    windowIndex: window.index,
    rowCount: window.rowCount,
    windowStart: window.start,
    windowEnd: window.end,
    ...(window.features ? { summariesJson: summariesToJson(window.features) } : { failure: window.failure }),
    outputs: [...window.outputs]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, summary]) => describeOutput(name, summary)),
    windowBy: version.windowMs ? 'time' : 'rows',
    ...(baselineJson ? { predictionDrift: { outputsJson, baselineJson } } : {}),
  };
}

function describeOutput(name: string, summary: Summary): OutputSummary {
  if (summary instanceof CategoricalSummary) {
    return {
      name,
      kind: 'categorical',
      count: summary.count,
      missing: summary.missing,
      categories: [...summary.counts]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, MAX_OUTPUT_CATEGORIES)
        .map(([category, count]) => ({ category, count })),
    };
  }
  const empty = summary.count === 0;
  const quantile = (q: number) => (empty ? 0 : summary.sketch.quantile(q));
  return {
    name,
    kind: 'numeric',
    count: summary.count,
    missing: summary.missing,
    mean: summary.mean,
    std: summary.std,
    min: empty ? 0 : summary.sketch.min,
    max: empty ? 0 : summary.sketch.max,
    p10: quantile(0.1),
    p50: quantile(0.5),
    p90: quantile(0.9),
  };
}

function windowToJson(window: OpenWindow): OpenWindowJson {
  return {
    index: window.index,
    rowCount: window.rowCount,
    start: window.start,
    end: window.end,
    ...(window.features ? { features: summariesToJson(window.features) } : {}),
    ...(window.failure ? { failure: window.failure } : {}),
    outputs: [...window.outputs].map(([name, summary]) => [name, summary.toJSON()]),
  };
}

function windowFromJson(json: OpenWindowJson): OpenWindow {
  return {
    index: json.index,
    rowCount: json.rowCount,
    // JSON has no infinities: an empty range comes back as null.
    start: json.start ?? Number.POSITIVE_INFINITY,
    end: json.end ?? Number.NEGATIVE_INFINITY,
    ...(json.features ? { features: summariesFromJson(json.features) } : {}),
    ...(json.failure ? { failure: json.failure } : {}),
    outputs: new Map(
      json.outputs.map(([name, summary]) => [
        name,
        summary.kind === 'numeric' ? NumericSummary.fromJSON(summary) : CategoricalSummary.fromJSON(summary),
      ]),
    ),
  };
}

/** `_id` of a closed window's report. */
export function closedWindowId(window: ClosedWindow): string {
  return windowId(window.pipelineId, window.modelVersion, window.windowIndex);
}
