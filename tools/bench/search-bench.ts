/**
 * `npm run bench:search`: our hyperparameter search against Optuna's TPE tuning LightGBM on UCI Adult, the same
 * trials budget, split, space and protocol, single-threaded, in alternating rounds: best holdout AUC and wall time
 * side by side. Each trial trains up to 500 rounds with early stopping (30) on the validation rows (every fifth train
 * row) and is scored by validation AUC; the best configuration is refit on train + validation with its best round
 * count and scored on Adult's test rows. Writes docs/benchmarks/search.md and search.json. BENCH_SEARCH_TRIALS
 * (default 30) and BENCH_ROUNDS (default 2) change the budget and the number of rounds; the Python peer runs from
 * ~/.cache/keel/venv-search (created on first run).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import { resolve } from 'node:path';
import {
  createModelDocument,
  fitTransform,
  type Matrix,
  type Params,
  Predictor,
  randomSearch,
  type SearchSpace,
  successiveHalving,
  TransformRunner,
  trainGbdt,
} from '@keel/ml-models';
import { loadAdult, treeSpecs } from './models/datasets';
import { rocAuc } from './models/metrics';
import { machine, writeMarkdown } from './models/report';

const ROOT = resolve(__dirname, '../..');
const VENV = resolve(homedir(), '.cache/keel/venv-search');
const PYTHON = resolve(VENV, 'bin/python');
const PEER_PACKAGES = ['lightgbm==4.7.0', 'pandas==3.1.1', 'numpy==2.4.6', 'scikit-learn==1.9.1', 'optuna==5.1.0'];
const TRIALS = Number(process.env.BENCH_SEARCH_TRIALS ?? 30);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SEED = 42;

/** The space both tuners search (LightGBM's names: learning_rate, num_leaves, min_child_samples). */
const SPACE: SearchSpace = {
  learningRate: { kind: 'logUniform', min: 0.02, max: 0.3 },
  maxLeaves: { kind: 'int', min: 8, max: 128 },
  minSamplesLeaf: { kind: 'int', min: 5, max: 100 },
};

interface Result {
  tuner: string;
  trials: number;
  validation_auc: number;
  holdout_auc: number;
  best_params: Params;
  rounds: number;
  wall_ms: number;
}

function rowsOf(x: Matrix, rows: readonly number[]): Matrix {
  const data = new Float64Array(rows.length * x.nCols);
  rows.forEach((r, i) => data.set(x.data.subarray(r * x.nCols, (r + 1) * x.nCols), i * x.nCols));
  return { data, nRows: rows.length, nCols: x.nCols };
}

/** Our search in this process, one trial at a time (the service runs the same trials on worker threads). */
async function ours(strategy: 'random' | 'successive-halving'): Promise<Result> {
  const ds = loadAdult();
  const started = performance.now();
  const pre = fitTransform(ds.train, treeSpecs(ds));
  const runner = new TransformRunner(pre);
  const all = runner.table(ds.train);
  const trainRows: number[] = [];
  const validationRows: number[] = [];
  for (let i = 0; i < all.nRows; i++) (i % 5 === 4 ? validationRows : trainRows).push(i);
  const x = rowsOf(all, trainRows);
  const y = Float64Array.from(trainRows, (i) => ds.yTrain[i]);
  const xv = rowsOf(all, validationRows);
  const yv = Float64Array.from(validationRows, (i) => ds.yTrain[i]);
  const rounds = new Map<number, number>();
  const trial = (p: Params, budget: number, index: number) => {
    const { model, info } = trainGbdt(x, y, {
      objective: 'binary',
      categoricalFeatures: pre.categoricalFeatures,
      learningRate: p.learningRate as number,
      maxLeaves: p.maxLeaves as number,
      minSamplesLeaf: p.minSamplesLeaf as number,
      maxIterations: budget,
      earlyStoppingRounds: 30,
      validation: { x: xv, y: yv },
      seed: SEED,
    });
    rounds.set(index, info.bestIteration);
    return rocAuc(yv, new Predictor(createModelDocument({ model })).predictBatch(xv));
  };
  const result =
    strategy === 'random'
      ? await randomSearch(SPACE, (p, i) => trial(p, 500, i), { maxTrials: TRIALS, seed: SEED })
      : await successiveHalving(SPACE, trial, {
          minBudget: 55,
          maxBudget: 500,
          eta: 3,
          nConfigs: halvingConfigs(TRIALS),
          maxTrials: TRIALS,
          seed: SEED,
        });
  const best = result.best!;
  const bestRounds = Math.max(1, rounds.get(best.index)!);
  const { model } = trainGbdt(all, Float64Array.from(ds.yTrain), {
    objective: 'binary',
    categoricalFeatures: pre.categoricalFeatures,
    learningRate: best.params.learningRate as number,
    maxLeaves: best.params.maxLeaves as number,
    minSamplesLeaf: best.params.minSamplesLeaf as number,
    maxIterations: bestRounds,
    seed: SEED,
  });
  const holdout = runner.table(ds.test);
  const holdoutAuc = rocAuc(ds.yTest, new Predictor(createModelDocument({ model })).predictBatch(holdout));
  return {
    tuner: `keel ${strategy} + keel gbdt`,
    trials: result.trials.length,
    validation_auc: best.score,
    holdout_auc: holdoutAuc,
    best_params: best.params,
    rounds: bestRounds,
    wall_ms: performance.now() - started,
  };
}

/** Successive halving's first rung for a trial budget with three rungs at eta 3 (n + n/3 + n/9 ≤ trials). */
function halvingConfigs(trials: number): number {
  let n = trials;
  while (n > 1 && n + Math.max(1, Math.floor(n / 3)) + Math.max(1, Math.floor(n / 9)) > trials) n--;
  return n;
}

function peer(): Result {
  if (!existsSync(PYTHON)) {
    console.log(`preparing ${VENV} (one-off: optuna, lightgbm, ...)`);
    execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  }
  execFileSync(PYTHON, ['-m', 'pip', 'install', '-q', ...PEER_PACKAGES], { stdio: 'inherit' });
  const out = execFileSync(
    PYTHON,
    [resolve(__dirname, 'search/optuna_peer.py'), loadAdult().path, String(TRIALS), String(SEED)],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, maxBuffer: 1 << 24 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as Result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function main(): Promise<void> {
  const load = loadavg()[0];
  const runs: Record<string, Result[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating rounds, so load from other work on a shared machine hits every tuner alike.
    for (const [name, run] of [
      ['optuna', async () => peer()],
      ['random', () => ours('random')],
      ['halving', () => ours('successive-halving')],
    ] as const) {
      console.log(`round ${round + 1}/${ROUNDS}: ${name} (${TRIALS} trials) ...`);
      const result = await run();
      console.log(`  holdout AUC ${result.holdout_auc.toFixed(4)} in ${(result.wall_ms / 1000).toFixed(1)} s`);
      (runs[name] ??= []).push(result);
    }
  }
  const rows = Object.values(runs).map((results) => ({
    ...results[0],
    wall_ms: median(results.map((r) => r.wall_ms)),
  }));
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const optuna = rows[0];
  const lines = [
    '# Hyperparameter search',
    '',
    `\`npm run bench:search\`: UCI Adult, ${TRIALS} trials per tuner, the same split (every fifth train row validates, ` +
      "Adult's test rows are the holdout), space (learning rate 0.02-0.3 log, leaves 8-128, rows per leaf 5-100) and " +
      'protocol (up to 500 rounds, early stopping 30 on validation AUC; the best refit on train + validation with its ' +
      'best round count), single-threaded, alternating rounds; wall time is the median of ' +
      `${ROUNDS} rounds and includes the refit. Machine: ${machine().cpu}, ${machine().cores}; load average ` +
      `${load.toFixed(1)} at the start; main ${commit}, ${machine().date}.`,
    '',
    '| tuner | trials | best validation AUC | holdout AUC | rounds | wall time (s) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.tuner} | ${r.trials} | ${r.validation_auc.toFixed(4)} | ${r.holdout_auc.toFixed(4)} | ${r.rounds} | ${(r.wall_ms / 1000).toFixed(1)} |`,
    ),
    '',
    ...rows.slice(1).map((r) => {
      const gap = optuna.holdout_auc - r.holdout_auc;
      const ok = gap <= 0.002 && r.wall_ms <= optuna.wall_ms;
      return (
        `- ${r.tuner}: holdout AUC ${gap >= 0 ? `${gap.toFixed(4)} below` : `${(-gap).toFixed(4)} above`} Optuna's, ` +
        `wall time ${(r.wall_ms / optuna.wall_ms).toFixed(2)}× (target: within 0.002 in no more time): ${ok ? 'met' : 'MISSED'}`
      );
    }),
    '',
  ];
  await writeMarkdown(resolve(ROOT, 'docs/benchmarks/search.md'), lines.join('\n'));
  await writeMarkdown(resolve(ROOT, 'docs/benchmarks/search.json'), JSON.stringify({ commit, runs }));
  console.log(lines.join('\n'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
