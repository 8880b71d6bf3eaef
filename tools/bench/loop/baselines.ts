import { type PipelineSpecV1, type RetrainPolicy } from '@keel/contracts';
import { Adwin } from '@keel/ml-stats';
import {
  decide,
  INITIAL_POLICY_STATE,
  type PolicyState,
  type RetrainSignal,
} from '../../../apps/monitoring/src/policy/retrain-policy';
import { type Elec2Row, PROTOCOL } from './elec2';
import { type HarnessModel, trainOnRows } from './trainer';

/** One strategy's result over the served rows (every row after the initial 4,800, in time order). */
export interface StrategyResult {
  name: string;
  /** Prequential accuracy: each served row predicted by the model in force when it was served. */
  accuracy: number;
  served: number;
  retrains: number;
  /** Each retrain: the served row it was decided at, why, and the labelled rows it trained on. */
  retrainLog: { atRow: number; reason: string; trainedOn: [number, number] }[];
  /** Accuracy per block of 4,800 served rows, to show where each strategy loses. */
  accuracyByBlock: number[];
  /** Each served row, '1' when predicted right: lets a stack run cut short compare on the rows it served. */
  hits?: string;
}

/**
 * `result` over its first `served` rows only (a stack run stopped at its deadline is compared on the rows it served):
 * accuracy, blocks and the retrains decided before the cut.
 */
export function firstRows(result: StrategyResult, served: number): StrategyResult {
  if (!result.hits || served >= result.served) return result;
  const hits = result.hits.slice(0, served);
  const blocks: number[] = [];
  for (let from = 0; from < served; from += PROTOCOL.windowRows) {
    const block = hits.slice(from, from + PROTOCOL.windowRows);
    blocks.push(Number(([...block].filter((h) => h === '1').length / block.length).toFixed(4)));
  }
  const retrainLog = result.retrainLog.filter((r) => r.atRow < PROTOCOL.initialRows + served);
  return {
    ...result,
    accuracy: [...hits].filter((h) => h === '1').length / served,
    served,
    retrains: retrainLog.length,
    retrainLog,
    accuracyByBlock: blocks,
    hits,
  };
}

/** The labelled window a retrain decided while serving row `i` trains on: the newest 4,800 rows whose labels arrived. */
export function labelledWindow(i: number): [number, number] {
  const labelledEnd = i - PROTOCOL.labelDelayRows + 1;
  return [Math.max(0, labelledEnd - PROTOCOL.windowRows), labelledEnd];
}

function summarize(
  name: string,
  rows: readonly Elec2Row[],
  predictions: string[],
  retrainLog: StrategyResult['retrainLog'],
): StrategyResult {
  const start = PROTOCOL.initialRows;
  let correct = 0;
  let hits = '';
  const blocks: number[] = [];
  let blockCorrect = 0;
  let blockRows = 0;
  for (let i = start; i < rows.length; i++) {
    const hit = predictions[i - start] === rows[i].class ? 1 : 0;
    hits += hit;
    correct += hit;
    blockCorrect += hit;
    blockRows += 1;
    if (blockRows === PROTOCOL.windowRows || i === rows.length - 1) {
      blocks.push(Number((blockCorrect / blockRows).toFixed(4)));
      blockCorrect = 0;
      blockRows = 0;
    }
  }
  const served = rows.length - start;
  return {
    name,
    accuracy: correct / served,
    served,
    retrains: retrainLog.length,
    retrainLog,
    accuracyByBlock: blocks,
    hits,
  };
}

/** The model trained on the first 4,800 rows, never retrained. */
export async function neverRetrained(spec: PipelineSpecV1, rows: readonly Elec2Row[]): Promise<StrategyResult> {
  const model = await trainOnRows(spec, rows.slice(0, PROTOCOL.initialRows));
  return summarize('never retrained', rows, model.predict(rows.slice(PROTOCOL.initialRows)), []);
}

/** Blindly retrained every week (336 rows) on the newest 4,800 labelled rows, under the same label delay. */
export async function weeklyRetrained(
  spec: PipelineSpecV1,
  rows: readonly Elec2Row[],
  progress: (line: string) => void = () => undefined,
): Promise<StrategyResult> {
  const predictions: string[] = [];
  const log: StrategyResult['retrainLog'] = [];
  let model = await trainOnRows(spec, rows.slice(0, PROTOCOL.initialRows));
  for (let i = PROTOCOL.initialRows; i < rows.length; i += PROTOCOL.weekRows) {
    if (i > PROTOCOL.initialRows) {
      const [from, to] = labelledWindow(i);
      model = await trainOnRows(spec, rows.slice(from, to));
      log.push({ atRow: i, reason: 'schedule (every 336 rows)', trainedOn: [from, to] });
      if (log.length % 20 === 0) progress(`weekly baseline: ${log.length} retrains`);
    }
    predictions.push(...model.predict(rows.slice(i, Math.min(rows.length, i + PROTOCOL.weekRows))));
  }
  return summarize('retrained weekly', rows, predictions, log);
}

/**
 * The retrain policy replayed in the harness, with the policy's own decision function: labelled windows of
 * `windowLabels` labels per model version (as monitoring closes them), new data every day of rows, and a retrained
 * model serving `championLagRows` rows after the decision (the time training, the gates and the alias move take).
 * It predicts what the stack run should show; the stack run is the measurement.
 */
export async function policyReplay(
  spec: PipelineSpecV1,
  policy: RetrainPolicy,
  rows: readonly Elec2Row[],
  options: { windowLabels: number; championLagRows: number },
): Promise<StrategyResult> {
  let state: PolicyState = INITIAL_POLICY_STATE;
  let model: HarnessModel = await trainOnRows(spec, rows.slice(0, PROTOCOL.initialRows));
  let pending: { model: HarnessModel; at: number } | null = null;
  let version = 1;
  const predictions: string[] = [];
  const log: StrategyResult['retrainLog'] = [];
  // Labelled predictions of the current version not yet in a closed window, and ADWIN on its error stream (as
  // monitoring runs it per model version, at the spec's δ): whether it fired in the open window.
  let window: boolean[] = [];
  const delta = spec.performance.conceptDrift.adwinDelta;
  let detector = new Adwin({ delta });
  let fired = false;
  const servedBy: number[] = [];
  const start = PROTOCOL.initialRows;
  for (let i = start; i < rows.length; i++) {
    if (pending && i >= pending.at) {
      model = pending.model;
      pending = null;
      version += 1;
      window = [];
      detector = new Adwin({ delta });
      fired = false;
    }
    predictions.push(model.predict([rows[i]])[0]);
    servedBy.push(version);
    const signals: RetrainSignal[] = [];
    // The label of row i - 48 arrives now, and its row as new data.
    const labelled = i - PROTOCOL.labelDelayRows;
    if (labelled >= start) {
      if (servedBy[labelled - start] === version) {
        const hit = predictions[labelled - start] === rows[labelled].class;
        window.push(hit);
        if (detector.update(hit ? 0 : 1)) fired = true;
      }
      if (window.length >= options.windowLabels) {
        const accuracy = window.filter(Boolean).length / window.length;
        signals.push({
          kind: 'label-window',
          signalId: `w-${i}`,
          pipelineId: spec.id,
          modelVersion: version,
          metrics: { accuracy },
          labelledRows: window.length,
          conceptDrift: { detector: 'adwin', detected: fired },
          summary: `accuracy ${accuracy.toFixed(3)}${fired ? ', ADWIN fired' : ''}`,
        });
        window = [];
        fired = false;
      }
    }
    if (labelled >= 0 && (labelled + 1) % PROTOCOL.labelDelayRows === 0) {
      signals.push({
        kind: 'new-data',
        signalId: `d-${i}`,
        pipelineId: spec.id,
        rows: PROTOCOL.labelDelayRows,
        datasetVersionId: `d-${i}`,
        summary: 'a day',
      });
    }
    for (const signal of signals) {
      const outcome = decide(state, signal, policy, i);
      if (outcome.next) state = outcome.next;
      if (outcome.decision?.outcome === 'fired' && !pending) {
        const [from, to] = labelledWindow(i);
        pending = { model: await trainOnRows(spec, rows.slice(from, to)), at: i + options.championLagRows };
        log.push({ atRow: i, reason: outcome.decision.why, trainedOn: [from, to] });
      }
    }
  }
  return summarize('retrain policy (replayed in the harness)', rows, predictions, log);
}
