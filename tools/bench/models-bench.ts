/**
 * `npm run bench:models`: our logistic regression and GBDT against scikit-learn, XGBoost and
 * LightGBM on Adult and Elec2, all single-threaded. Prints a table and writes
 * docs/benchmarks/models.md and docs/benchmarks/ml.json. Peers run in a venv outside the repo
 * (created on first run). Set BENCH_ROUNDS to change the number of timing rounds (default 3).
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { loadAdult, loadElec2 } from './models/datasets';
import { evaluateOurs, median, OUR_KINDS, ourModelName, timeFit, warmUp } from './models/ours';
import { ensureVenv, runPeers } from './models/python-peers';
import { type BenchRecord, machine, markdownTable, writeJson, writeMarkdown } from './models/report';

const ROOT = resolve(__dirname, '../..');

function targets(records: BenchRecord[]): string[] {
  const lines: string[] = [];
  for (const dataset of ['adult', 'elec2']) {
    const on = records.filter((r) => r.dataset === dataset);
    const ours = on.find((r) => r.model === 'keel-gbdt')!;
    const peers = on.filter((r) => !r.model.startsWith('keel-'));
    const bestAuc = Math.max(...peers.map((r) => r.auc));
    const lgb = on.find((r) => r.model === 'lightgbm')!;
    const gap = bestAuc - ours.auc;
    const ratio = ours.train_ms / lgb.train_ms;
    const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
    lines.push(
      `- ${dataset}: GBDT ROC AUC ${ours.auc.toFixed(4)} vs best peer ${bestAuc.toFixed(4)} (gap ${gap.toFixed(4)}, target ≤ 0.003): ${verdict(gap <= 0.003)}`,
      `- ${dataset}: GBDT training ${ours.train_ms.toFixed(0)} ms = ${ratio.toFixed(2)}× LightGBM's ${lgb.train_ms.toFixed(0)} ms (target ≤ 1.5×): ${verdict(ratio <= 1.5)}`,
      `- ${dataset}: GBDT single-row inference ${ours.infer_row_us.toFixed(2)} µs (target ≤ 5 µs): ${verdict(ours.infer_row_us <= 5)}`,
    );
  }
  return lines;
}

/** Median of each peer's figures over rounds (AUC and F1 are the same in every round). */
function mergePeerRounds(rounds: BenchRecord[][]): BenchRecord[] {
  return rounds[0].map((first) => {
    const same = rounds.map((r) => r.find((x) => x.model === first.model && x.dataset === first.dataset)!);
    return {
      ...first,
      train_ms: median(same.map((x) => x.train_ms)),
      infer_row_us: median(same.map((x) => x.infer_row_us)),
      infer_batch_us_per_row: median(same.map((x) => x.infer_batch_us_per_row)),
    };
  });
}

async function main(): Promise<void> {
  // Rounds alternate peers and ours, so load from other work on a shared machine hits both alike.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const loadBefore = loadavg()[0];
  const datasets = [loadAdult(), loadElec2()];
  ensureVenv();
  for (const ds of datasets) warmUp(ds);
  const peerRounds: BenchRecord[][] = [];
  const ourTimes = new Map<string, { total: number[]; trainer: number[] }>();
  for (let r = 0; r < rounds; r++) {
    console.log(`round ${r + 1}/${rounds}: Python peers (single-threaded), then ours ...`);
    peerRounds.push(runPeers(datasets[0].path, datasets[1].path, 2));
    for (const ds of datasets) {
      for (const kind of OUR_KINDS) {
        const key = `${ds.name}/${kind}`;
        const t = timeFit(ds, kind);
        const acc = ourTimes.get(key) ?? { total: [], trainer: [] };
        acc.total.push(t.totalMs);
        acc.trainer.push(t.trainerMs);
        ourTimes.set(key, acc);
      }
    }
  }
  const peers = mergePeerRounds(peerRounds);
  const records: BenchRecord[] = [];
  const notes: string[] = [];
  for (const ds of datasets) {
    console.log(`measuring our inference on ${ds.name} ...`);
    for (const kind of OUR_KINDS) {
      const { record, recordUs } = evaluateOurs(ds, kind);
      const t = ourTimes.get(`${ds.name}/${kind}`)!;
      // Same input as the peers get: GBDT peers fit integer-coded categoricals (pandas category
      // dtype, converted before timing), so ours is timed on the coded matrix; the logistic peer is a
      // scikit-learn Pipeline with its preprocessing, so ours includes fitting and applying ours.
      record.train_ms = kind === 'gbdt' ? median(t.trainer) : median(t.total);
      records.push(record);
      notes.push(
        `${ds.name} ${ourModelName(kind)}: trainer alone ${median(t.trainer).toFixed(0)} ms, ` +
          `with fitting and applying the preprocessing ${median(t.total).toFixed(0)} ms; ` +
          `one raw record through preprocessing and model ${recordUs.toFixed(2)} µs`,
      );
    }
    records.push(...peers.filter((p) => p.dataset === ds.name));
  }
  const m = machine();
  const load = `1-minute load average ${loadBefore.toFixed(2)} before and ${loadavg()[0].toFixed(2)} after the run (2 would mean both cores busy)`;
  const table = markdownTable(records);
  const verdicts = targets(records);
  console.log(`\n${table}\n\n${verdicts.join('\n')}\n${notes.map((n) => `- ${n}`).join('\n')}`);
  await writeJson(resolve(ROOT, 'docs/benchmarks/ml.json'), records);
  await writeMarkdown(
    resolve(ROOT, 'docs/benchmarks/models.md'),
    [
      '# Model benchmarks',
      '',
      `Written by \`npm run bench:models\` on ${m.date}; machine: ${m.cores} cores (nproc), ${m.cpu}; Node ${process.versions.node}.`,
      `Everything single-threaded; timings are wall-clock on a machine that may be shared (${load}), so expect ±20 % between runs.`,
      '',
      '- Data: Adult (its `split` column; positive `>50K`) and Elec2 (first 75 % of rows train, last 25 % test; positive `UP`; `timestamp` and `date` dropped).',
      '- Settings: GBDTs 100 rounds, learning rate 0.1, 31 leaves, 20 rows per leaf, 255 bins, no early stopping; categorical columns handled natively where the library can (ours, scikit-learn HGB, XGBoost, LightGBM via pandas categories). Logistic regressions: mean-imputed, standardised numerics and one-hot categoricals, C = 1 (ours: λ = 1/n).',
      `- train ms: median over ${rounds} rounds that alternate the Python peers (each the median of 2 fits) and ours (one fit after a warm-up), so that load from other work on a shared machine affects both alike. Each model gets the input its peers get: GBDTs (ours and peers) fit on integer-coded categoricals (pandas category dtype is converted before timing, so our string→code preprocessing is not in the GBDT figure; the notes give our full-pipeline time), logistic regressions include fitting and applying the preprocessing (the scikit-learn one is a Pipeline).`,
      '- 1-row µs: ours is `Predictor.predictRow` on a preprocessed row (mean over 100k calls); the Python peers are `predict_proba` on a one-row DataFrame (median of 200 calls), dominated by Python overhead.',
      '- batch µs/row: the whole test set in one call.',
      '',
      table,
      '',
      '## Targets',
      '',
      ...verdicts,
      '',
      '## Notes',
      '',
      ...notes.map((n) => `- ${n}`),
      '',
    ].join('\n'),
  );
  console.log('\nwrote docs/benchmarks/models.md and docs/benchmarks/ml.json');
}

void main();
