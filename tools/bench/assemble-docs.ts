/**
 * Writes docs/benchmarks.md from the latest tables of each benchmark (docs/benchmarks/models.md, drift.md, soak.md,
 * event-loop.md, serving.md, monitoring.md, loop.md, search.md, ingest.md), so the one page people read always shows the figures
 * the scripts last printed. Run by `npm run bench:ml`, `npm run soak`, `npm run bench:event-loop`,
 * `npm run bench:serving`, `npm run bench:monitoring`, `npm run bench:loop`, `npm run bench:search` and `npm run bench:ingest`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../stack/paths';
import { writeMarkdown } from './models/report';

const partFiles = [
  'models.md',
  'drift.md',
  'soak.md',
  'event-loop.md',
  'serving.md',
  'monitoring.md',
  'loop.md',
  'search.md',
  'ingest.md',
]
  .map((file) => join(repoRoot, 'docs', 'benchmarks', file))
  .filter((path) => existsSync(path));

async function main(): Promise<void> {
  // Benches write their tables unformatted; each part is formatted in place first, so every generated page passes
  // the `prettier --check` of `npm test` whichever bench wrote it.
  for (const path of partFiles) await writeMarkdown(path, readFileSync(path, 'utf8'));
  // Each part's own title becomes a section of this page.
  const parts = partFiles.map((path) =>
    readFileSync(path, 'utf8')
      .replace(/^# /, '## ')
      .replace(/\n(#+) /g, '\n#$1 '),
  );

  await writeMarkdown(
    join(repoRoot, 'docs', 'benchmarks.md'),
    [
      '# Benchmarks',
      '',
      'Written by `npm run bench:ml` (`bench:models`, then `bench:drift`), `npm run soak`, ' +
        '`npm run bench:event-loop`, `npm run bench:serving`, `npm run bench:monitoring`, `npm run bench:loop`, `npm run bench:search` and `npm run bench:ingest`. Figures as JSON: ' +
        '`docs/benchmarks/ml.json` (one record per model and dataset), `docs/benchmarks/drift.json`, ' +
        '`docs/benchmarks/soak.json`, `docs/benchmarks/event-loop.json`, `docs/benchmarks/serving.json`, ' +
        '`docs/benchmarks/monitoring.json`, `docs/benchmarks/loop.json`, `docs/benchmarks/search.json` and `docs/benchmarks/ingest.json`. Peers run from Python venvs under `~/.cache/keel`; no test asserts a time.',
      '',
      ...parts,
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
