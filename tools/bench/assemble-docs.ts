/**
 * Writes docs/benchmarks.md from the latest tables of each benchmark (docs/benchmarks/models.md, drift.md, soak.md,
 * event-loop.md, serving.md, monitoring.md, loop.md, search.md), so the one page people read always shows the figures
 * the scripts last printed. Run by `npm run bench:ml`, `npm run soak`, `npm run bench:event-loop`,
 * `npm run bench:serving`, `npm run bench:monitoring`, `npm run bench:loop` and `npm run bench:search`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../stack/paths';

const parts = [
  'models.md',
  'drift.md',
  'soak.md',
  'event-loop.md',
  'serving.md',
  'monitoring.md',
  'loop.md',
  'search.md',
]
  .map((file) => join(repoRoot, 'docs', 'benchmarks', file))
  .filter((path) => existsSync(path))
  // Each part's own title becomes a section of this page.
  .map((path) =>
    readFileSync(path, 'utf8')
      .replace(/^# /, '## ')
      .replace(/\n(#+) /g, '\n#$1 '),
  );

writeFileSync(
  join(repoRoot, 'docs', 'benchmarks.md'),
  [
    '# Benchmarks',
    '',
    'Written by `npm run bench:ml` (`bench:models`, then `bench:drift`), `npm run soak`, ' +
      '`npm run bench:event-loop`, `npm run bench:serving`, `npm run bench:monitoring`, `npm run bench:loop` and `npm run bench:search`. Figures as JSON: ' +
      '`docs/benchmarks/ml.json` (one record per model and dataset), `docs/benchmarks/drift.json`, ' +
      '`docs/benchmarks/soak.json`, `docs/benchmarks/event-loop.json`, `docs/benchmarks/serving.json`, ' +
      '`docs/benchmarks/monitoring.json`, `docs/benchmarks/loop.json` and `docs/benchmarks/search.json`. Peers run from Python venvs under `~/.cache/keel`; no test asserts a time.',
    '',
    ...parts,
  ].join('\n'),
);
