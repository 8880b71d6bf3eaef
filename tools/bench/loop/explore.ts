/**
 * Offline replay of the Elec2 loop for choosing the pipeline's settings (issue 9): the same rows, the same label delay
 * (48 rows) and the same trainer as `npm run bench:loop`, with one configuration per run, so training windows,
 * recency weights, split fractions, triggers and how a candidate is compared with the champion can be tried in
 * seconds rather than a stack run. Decisions only use labels that have arrived (no peeking).
 *
 * `node -r @swc-node/register tools/bench/loop/explore.ts '<json config>' [--rows N]`; prints one JSON line.
 * Config: { training?: spec.training overrides, split?: spec.split overrides, policy?: RetrainPolicy input or
 * "weekly", windowLabels?: number, compare?: "always" | "fresh" | "same-holdout", minFreshRows?: number }.
 */
import { type PipelineSpecInput, PipelineSpecV1, RetrainPolicy } from '@keel/contracts';
import { Adwin } from '@keel/ml-stats';
import {
  decide,
  INITIAL_POLICY_STATE,
  type PolicyState,
  type RetrainSignal,
} from '../../../apps/monitoring/src/policy/retrain-policy';
import { type Elec2Row, elec2Rows, elec2Spec, PROTOCOL } from './elec2';
import { trainWithHoldout, type HarnessModel } from './trainer';

interface ExploreConfig {
  training?: Partial<PipelineSpecInput['training']>;
  split?: Partial<NonNullable<PipelineSpecInput['split']>>;
  policy?: unknown;
  windowLabels?: number;
  compare?: 'always' | 'fresh' | 'same-holdout';
  minFreshRows?: number;
  /** Extra features from the CSV (e.g. `date`, the normalised time). */
  extraFeatures?: { name: string; type: 'numeric' | 'categorical' }[];
  /** Numeric features computed from each row alone (no other row), to try transforms before declaring them. */
  computed?: (keyof typeof COMPUTED)[];
}

/** Row-level transforms explore can add: each reads one row only, so serving could compute it from the request. */
const COMPUTED = {
  period_sin: (r: Elec2Row) => Math.sin(2 * Math.PI * Number(r.period)),
  period_cos: (r: Elec2Row) => Math.cos(2 * Math.PI * Number(r.period)),
  price_per_demand: (r: Elec2Row) => Number(r.nswprice) / Math.max(1e-6, Number(r.nswdemand)),
  price_minus_vic: (r: Elec2Row) => Number(r.nswprice) - Number(r.vicprice),
  demand_minus_vic: (r: Elec2Row) => Number(r.nswdemand) - Number(r.vicdemand),
  weekend: (r: Elec2Row) => (Number(r.day) >= 6 ? 1 : 0),
} as const;

const config = JSON.parse(process.argv[2] ?? '{}') as ExploreConfig;
const rowsArg = process.argv.indexOf('--rows');

async function main(): Promise<void> {
  const base = elec2Spec('elec2-explore', undefined);
  const spec = PipelineSpecV1.parse({
    ...base,
    features: [
      ...base.features,
      ...(config.extraFeatures ?? []),
      ...(config.computed ?? []).map((name) => ({ name, type: 'numeric' as const })),
    ],
    training: { ...base.training, ...config.training },
    split: { ...base.split, ...config.split },
  });
  const all = elec2Rows(spec, { keepDate: (config.extraFeatures ?? []).some((f) => f.name === 'date') }).map((row) => ({
    ...row,
    ...Object.fromEntries((config.computed ?? []).map((name) => [name, COMPUTED[name](row)])),
  }));
  const rows = rowsArg > 0 ? all.slice(0, PROTOCOL.initialRows + Number(process.argv[rowsArg + 1])) : all;
  const started = Date.now();
  const result = await replay(spec, rows, config);
  process.stdout.write(
    `${JSON.stringify({ config, ...result, seconds: Math.round((Date.now() - started) / 1000) })}\n`,
  );
}

interface Served {
  model: HarnessModel;
  /** The model its held-out metrics come from (before a refit on the whole window): what comparisons score. */
  heldOutModel: HarnessModel;
  /** The labelled rows [from, to) of the window it was trained on, and its holdout rows (absolute indices). */
  window: [number, number];
  holdout: number[];
}

async function train(spec: PipelineSpecV1, rows: readonly Elec2Row[], from: number, to: number): Promise<Served> {
  const windowRows = spec.training.window.type === 'rows' ? spec.training.window.rows : PROTOCOL.windowRows;
  const start = Math.max(from, to - windowRows);
  const { model, heldOutModel, holdout } = await trainWithHoldout(spec, rows.slice(start, to));
  return { model, heldOutModel, window: [start, to], holdout: holdout.map((i) => i + start) };
}

function accuracy(model: HarnessModel, rows: readonly Elec2Row[], indices: number[]): number {
  if (indices.length === 0) return Number.NaN;
  const predicted = model.predict(indices.map((i) => rows[i]));
  return predicted.filter((p, k) => p === rows[indices[k]].class).length / indices.length;
}

async function replay(spec: PipelineSpecV1, rows: readonly Elec2Row[], cfg: ExploreConfig) {
  const start = PROTOCOL.initialRows;
  const weekly = cfg.policy === 'weekly';
  const policy = weekly ? undefined : RetrainPolicy.parse(cfg.policy ?? {});
  const windowLabels = cfg.windowLabels ?? 96;
  let champion = await train(spec, rows, 0, start);
  let state: PolicyState = INITIAL_POLICY_STATE;
  let version = 1;
  let correct = 0;
  let retrains = 0;
  let kept = 0;
  const predictions: string[] = [];
  const servedBy: number[] = [];
  let window: boolean[] = [];
  const delta = spec.performance.conceptDrift.adwinDelta;
  let detector = new Adwin({ delta });
  let fired = false;
  const reasons: Record<string, number> = {};
  for (let i = start; i < rows.length; i++) {
    const p = champion.model.predict([rows[i]])[0];
    predictions.push(p);
    servedBy.push(version);
    if (p === rows[i].class) correct++;
    const labelledEnd = i - PROTOCOL.labelDelayRows + 1; // rows [0, labelledEnd) have labels after serving row i
    let fire: string | null = null;
    if (weekly) {
      if ((i + 1 - start) % PROTOCOL.weekRows === 0) fire = 'schedule';
    } else {
      const signals: RetrainSignal[] = [];
      const labelled = labelledEnd - 1;
      if (labelled >= start) {
        if (servedBy[labelled - start] === version) {
          const hit = predictions[labelled - start] === rows[labelled].class;
          window.push(hit);
          if (detector.update(hit ? 0 : 1)) fired = true;
        }
        if (window.length >= windowLabels) {
          const acc = window.filter(Boolean).length / window.length;
          signals.push({
            kind: 'label-window',
            signalId: `w-${i}`,
            pipelineId: spec.id,
            modelVersion: version,
            metrics: { accuracy: acc },
            labelledRows: window.length,
            conceptDrift: { detector: 'adwin', detected: fired },
            summary: '',
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
          summary: '',
        });
      }
      for (const signal of signals) {
        const outcome = decide(state, signal, policy, i);
        if (outcome.next) state = outcome.next;
        if (outcome.decision?.outcome === 'fired' && !fire) fire = outcome.decision.reason;
      }
    }
    if (fire) {
      retrains++;
      reasons[fire] = (reasons[fire] ?? 0) + 1;
      const candidate = await train(spec, rows, 0, labelledEnd);
      if (promote(cfg, candidate, champion, rows)) {
        champion = candidate;
        version++;
        window = [];
        detector = new Adwin({ delta });
        fired = false;
      } else kept++;
    }
  }
  const served = rows.length - start;
  return { accuracy: Number((correct / served).toFixed(4)), retrains, kept, reasons, served };
}

/** Whether the candidate replaces the champion, by the configured comparison (ties move). */
function promote(cfg: ExploreConfig, candidate: Served, champion: Served, rows: readonly Elec2Row[]): boolean {
  const mode = cfg.compare ?? 'always';
  if (mode === 'always') return true;
  const championSaw = (i: number) => i >= champion.window[0] && i < champion.window[1];
  const championHoldout = new Set(champion.holdout);
  const rowsToCompare =
    mode === 'fresh'
      ? candidate.holdout.filter((i) => i >= champion.window[1])
      : candidate.holdout.filter((i) => !championSaw(i) || championHoldout.has(i));
  if (rowsToCompare.length < (cfg.minFreshRows ?? 1)) return true;
  return accuracy(candidate.heldOutModel, rows, rowsToCompare) >= accuracy(champion.heldOutModel, rows, rowsToCompare);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
