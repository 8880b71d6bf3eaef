/**
 * The check a user could run before going live with Elec2, without the stream the bench scores: each setting of the
 * pipeline's trees and recency weights trained on the start of the first 4,800 rows and scored on the later rows of
 * those 4,800 (two time-split folds, a day of rows left out between train and test as the label delay would), best
 * first. It shows whether the pipeline's settings, chosen in the offline replay of the whole stream, are also what a
 * choice without peeking at the scored stream gives.
 *
 * `node -r @swc-node/register tools/bench/loop/prefix-select.ts`; prints one line per setting.
 */
import { PipelineSpecV1 } from '@keel/contracts';
import { elec2Rows, elec2Spec, PROTOCOL } from './elec2';
import { trainOnRows } from './trainer';

/** [train end, test start, test end) over the first 4,800 rows: a day of rows between train and test. */
const FOLDS = [
  [2_400, 2_448, 3_600],
  [3_552, 3_600, PROTOCOL.initialRows],
] as const;

async function main(): Promise<void> {
  const base = elec2Spec('elec2-prefix-select', undefined);
  const rows = elec2Rows(base);
  const results: { mean: number; folds: number[]; setting: string }[] = [];
  for (const halfLifeRows of [0, 1_200, 2_400]) {
    for (const maxLeaves of [4, 8, 31]) {
      for (const minSamplesLeaf of [20, 100, 400]) {
        const { recencyWeights: _weights, ...training } = base.training;
        const spec = PipelineSpecV1.parse({
          ...base,
          training: {
            ...training,
            ...(halfLifeRows ? { recencyWeights: { halfLifeRows } } : {}),
            search: {
              gbdt: {
                space: {
                  maxLeaves: { kind: 'choice', values: [maxLeaves] },
                  minSamplesLeaf: { kind: 'choice', values: [minSamplesLeaf] },
                },
                trials: 1,
              },
            },
          },
        });
        const folds: number[] = [];
        for (const [trainEnd, testFrom, testEnd] of FOLDS) {
          const model = await trainOnRows(spec, rows.slice(0, trainEnd));
          const test = rows.slice(testFrom, testEnd);
          folds.push(model.predict(test).filter((p, i) => p === test[i].class).length / test.length);
        }
        const setting = `half-life ${halfLifeRows || 'none'}, ${maxLeaves} leaves, ${minSamplesLeaf} rows a leaf`;
        results.push({ mean: folds.reduce((a, b) => a + b, 0) / folds.length, folds, setting });
      }
    }
  }
  for (const r of results.sort((a, b) => b.mean - a.mean)) {
    process.stdout.write(`${r.mean.toFixed(4)} (${r.folds.map((f) => f.toFixed(4)).join(', ')}) ${r.setting}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
