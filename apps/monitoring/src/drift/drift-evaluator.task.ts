import { type FeatureReference } from '@keel/model-package';
import { CategoricalSummary, NumericSummary } from '@keel/ml-stats';
import { defineWorkerTask, type WorkerTaskContext } from '@keel/workers';
import { type DriftSpec } from '@keel/contracts';
import {
  type DriftTests,
  emptySummaries,
  evaluatePredictions,
  evaluateSummaries,
  summariesFromJson,
  summariesToJson,
  type WindowDrift,
  type WindowSummaries,
} from './drift-evaluator';

/**
 * One feature of a window's inputs, column-wise so that a large window crosses to a worker thread as a few buffers
 * (moved, not copied) rather than as a million objects: numbers with NaN for missing, categories as codes into a
 * list with -1 for missing.
 */
export type WindowColumn =
  { kind: 'numeric'; values: Float64Array } | { kind: 'categorical'; codes: Int32Array; categories: string[] };

export interface DriftWindowInput {
  /** The model package's training reference, feature by feature. */
  reference: Readonly<Record<string, FeatureReference>>;
  /** The window's summaries so far (summariesToJson); empty summaries on the reference's bins when absent. */
  summariesJson?: string;
  /** Inputs to add to the window before it is evaluated. */
  columns?: Readonly<Record<string, WindowColumn>>;
  /** Which test judges which feature (the pipeline spec's monitoring section). */
  tests: DriftTests;
  /** The window's and the version's first window's output summaries, for prediction drift. */
  predictionDrift?: { outputsJson: string; baselineJson: string; tests?: PredictionTests };
}

/** The spec's prediction-drift tests by output kind. */
export type PredictionTests = Pick<DriftSpec['predictions'], 'numeric' | 'categorical'>;

export interface DriftWindowOutput {
  /** The window's summaries with the columns added. */
  summariesJson: string;
  drift: WindowDrift;
}

/** Adds columns to a window's summaries; missing values (and NaN) count as missing, as in addRows. */
export function addColumns(summaries: WindowSummaries, columns: Readonly<Record<string, WindowColumn>>): void {
  for (const [feature, summary] of summaries) {
    const column = columns[feature];
    if (!column) continue;
    if (summary instanceof NumericSummary && column.kind === 'numeric') {
      for (const value of column.values) summary.add(Number.isFinite(value) ? value : null);
    } else if (summary instanceof CategoricalSummary && column.kind === 'categorical') {
      for (const code of column.codes) summary.add(code < 0 ? null : column.categories[code]);
    }
  }
}

/**
 * Adds a window's new inputs to its summaries and compares the window with the training reference: the whole of a
 * drift evaluation, pure, so it gives the same report on any thread.
 */
export function evaluateDriftWindow(
  input: DriftWindowInput,
  { progress }: Pick<WorkerTaskContext, 'progress'> = { progress: () => undefined },
): DriftWindowOutput {
  const summaries = input.summariesJson ? summariesFromJson(input.summariesJson) : emptySummaries(input.reference);
  if (input.columns) {
    progress({ stage: 'summarize' });
    addColumns(summaries, input.columns);
  }
  progress({ stage: 'compare' });
  const drift = evaluateSummaries(input.reference, summaries, input.tests);
  if (input.predictionDrift) {
    const { outputsJson, baselineJson, tests } = input.predictionDrift;
    drift.predictions = evaluatePredictions(outputsJson, baselineJson, tests);
    drift.drifted ||= drift.predictions.some((output) => output.drifted);
  }
  return { summariesJson: summariesToJson(summaries), drift };
}

/** {@link evaluateDriftWindow} on a worker thread. */
export const driftWindowTask = defineWorkerTask(__filename, 'driftWindowTask', evaluateDriftWindow);

/** Closed windows to evaluate together: one message to the worker, whatever their number. */
export interface DriftWindowsInput {
  /** Each window with its summaries; windows of one version share their reference object (sent, and parsed, once). */
  windows: readonly (Omit<DriftWindowInput, 'columns' | 'summariesJson'> & { summariesJson: string })[];
}

/** Each window's drift, or why it could not be evaluated (one bad window does not fail the others). */
export interface DriftWindowsOutput {
  results: ({ drift: WindowDrift } | { error: string })[];
}

/** {@link evaluateDriftWindow} for many stored windows at once, without re-serializing their summaries. */
export function evaluateDriftWindows(input: DriftWindowsInput): DriftWindowsOutput {
  return {
    results: input.windows.map((window) => {
      try {
        const drift = evaluateSummaries(window.reference, summariesFromJson(window.summariesJson), window.tests);
        if (window.predictionDrift) {
          const { outputsJson, baselineJson, tests } = window.predictionDrift;
          drift.predictions = evaluatePredictions(outputsJson, baselineJson, tests);
          drift.drifted ||= drift.predictions.some((output) => output.drifted);
        }
        return { drift };
      } catch (error) {
        return { error: (error as Error).message };
      }
    }),
  };
}

/** {@link evaluateDriftWindows} on a worker thread. */
export const driftWindowsTask = defineWorkerTask(__filename, 'driftWindowsTask', evaluateDriftWindows);
