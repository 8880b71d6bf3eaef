/**
 * Drift benchmark: every per-feature drift test of @keel/ml-stats (streaming summaries) versus Evidently's
 * DataDriftPreset, on deterministic Adult-shaped data (6 numeric + 8 categorical columns), reference and current
 * windows of DRIFT_BENCH_ROWS rows each (default 1 000 000). Each side runs in its own process so peak RSS is its own.
 * Writes docs/benchmarks/drift.json and docs/benchmarks/drift.md. Data goes to /tmp/keel-drift-bench (not committed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeDataset } from './drift/dataset';
import { runOurs } from './drift/ours';

const ROOT = resolve(__dirname, '..', '..');
const DATA_DIR = '/tmp/keel-drift-bench';
const VENV = join(homedir(), '.cache/keel/venv-stats');
const VENV_PYTHON = join(VENV, 'bin/python');
const REQUIREMENTS = join(ROOT, 'tools/reference/stats/requirements.txt');

/** Creates the reference venv and installs its pinned requirements unless they import already (a fresh machine). */
function ensureVenv(): void {
  const ready = () =>
    existsSync(VENV_PYTHON) &&
    spawnSync(VENV_PYTHON, ['-c', 'import evidently, pandas, numpy, scipy'], { stdio: 'ignore' }).status === 0;
  if (ready()) return;
  console.log(`preparing ${VENV} (one-off: evidently, pandas, scipy, ...)`);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${r.status}`);
  };
  if (!existsSync(VENV_PYTHON)) run('python3', ['-m', 'venv', VENV]);
  run(VENV_PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', REQUIREMENTS]);
  if (!ready()) throw new Error(`${VENV} does not import evidently after installing ${REQUIREMENTS}`);
}

function oursChild(referencePath: string, currentPath: string): void {
  const started = performance.now();
  const result = runOurs(referencePath, currentPath);
  const wallMs = performance.now() - started;
  const out = {
    ...result,
    wallMs,
    maxRssKiB: process.resourceUsage().maxRSS,
    heapUsedMiBAtEnd: process.memoryUsage().heapUsed / 2 ** 20,
  };
  process.stdout.write(JSON.stringify(out));
}

function runJson(cmd: string, args: string[]): Record<string, unknown> {
  const started = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, cwd: ROOT });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as Record<string, unknown>), processWallMs: performance.now() - started };
}

const fmt = (v: number, digits = 4): string =>
  Math.abs(v) >= 0.001 || v === 0 ? v.toFixed(digits) : v.toExponential(2);

function main(): void {
  const rows = Number(process.env.DRIFT_BENCH_ROWS ?? 1_000_000);
  ensureVenv();
  mkdirSync(DATA_DIR, { recursive: true });
  const referencePath = join(DATA_DIR, `reference-${rows}.csv`);
  const currentPath = join(DATA_DIR, `current-${rows}.csv`);
  if (!existsSync(referencePath) || !existsSync(currentPath)) {
    console.log(`generating ${rows} + ${rows} rows in ${DATA_DIR} ...`);
    writeDataset(referencePath, rows, 1, false);
    writeDataset(currentPath, rows, 2, true);
  }
  console.log('running ours (streaming summaries) ...');
  const ours = runJson(process.execPath, [
    '-r',
    '@swc-node/register',
    __filename,
    '--ours',
    referencePath,
    currentPath,
  ]);
  console.log(`  ${fmt(Number(ours.wallMs) / 1000, 2)} s, peak RSS ${fmt(Number(ours.maxRssKiB) / 1024, 0)} MiB`);
  console.log('running Evidently DataDriftPreset ...');
  const evidently = runJson(VENV_PYTHON, ['tools/bench/drift/evidently_drift.py', referencePath, currentPath]);
  console.log(
    `  ${fmt(Number(evidently.totalMs) / 1000, 2)} s, peak RSS ${fmt(Number(evidently.maxRssKiB) / 1024, 0)} MiB`,
  );

  const machine = { nproc: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version };
  const date = new Date().toISOString();
  const report = { date, machine, rowsPerWindow: rows, columns: { numeric: 6, categorical: 8 }, ours, evidently };
  mkdirSync(join(ROOT, 'docs/benchmarks'), { recursive: true });
  writeFileSync(join(ROOT, 'docs/benchmarks/drift.json'), JSON.stringify(report, null, 2) + '\n');

  type Feature = {
    kind: string;
    psi: number;
    jensenShannon: number;
    wassersteinNormed?: number;
    ks?: { pValue: number };
    chiSquare?: { pValue: number };
  };
  const features = ours.features as Record<string, Feature>;
  const evCols = evidently.columns as Record<string, { method: string; value: number }>;
  const lines = [
    '# Drift benchmark',
    '',
    `Latest run: ${date} on ${machine.nproc} × ${machine.cpuModel}, Node ${machine.node}. Regenerate with \`npm run bench:drift\`.`,
    '',
    `Data: deterministic Adult-shaped synthetic CSVs, reference and current windows of ${rows.toLocaleString('en')} rows each,`,
    '6 numeric + 8 categorical columns; the current window drifts on age, hours_per_week, capital_gain, occupation and education.',
    '',
    '| | ours: @keel/ml-stats streaming summaries | Evidently DataDriftPreset |',
    '| --- | --- | --- |',
    `| tests | PSI, KS (+p), Wasserstein (+normed), JS per numeric column; PSI, chi-square (+p), JS per categorical | one per column: Wasserstein (normed) numeric, Jensen-Shannon categorical |`,
    `| wall time, total | ${fmt(Number(ours.wallMs) / 1000, 2)} s (2 reference passes + 1 current pass, CSV parsing included) | ${fmt(Number(evidently.totalMs) / 1000, 2)} s |`,
    `| of which loading | (streamed, included above) | ${fmt(Number(evidently.loadMs) / 1000, 2)} s (pandas.read_csv) |`,
    `| of which drift | compare ${fmt(Number((ours.phases as Record<string, number>).compareMs), 1)} ms | ${fmt(Number(evidently.driftMs) / 1000, 2)} s |`,
    `| peak RSS | ${fmt(Number(ours.maxRssKiB) / 1024, 0)} MiB (resourceUsage maxRSS) | ${fmt(Number(evidently.maxRssKiB) / 1024, 0)} MiB (getrusage ru_maxrss) |`,
    `| reference summary size | ${fmt(Number((ours.phases as Record<string, number>).summaryJsonBytes) / 1024, 0)} KiB JSON | n/a (needs the raw reference) |`,
    '',
    '## Per-feature scores',
    '',
    '| feature | PSI | JS (base e) | KS p / chi-square p | Wasserstein normed | Evidently method | Evidently value |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...Object.entries(features).map(([name, f]) => {
      const p = f.kind === 'numeric' ? f.ks!.pValue : f.chiSquare!.pValue;
      const w = f.wassersteinNormed === undefined ? '' : fmt(f.wassersteinNormed);
      const ev = evCols[name];
      return `| ${name} | ${fmt(f.psi)} | ${fmt(f.jensenShannon)} | ${fmt(p)} | ${w} | ${ev?.method ?? ''} | ${ev ? fmt(ev.value) : ''} |`;
    }),
    '',
    'Numeric JS and PSI use reference-decile bins (ours) whereas Evidently bins numerics with Sturges bins over both',
    'windows, so only the categorical JS and the Wasserstein columns are directly comparable (categorical JS agrees to',
    'all printed digits). Our KS and Wasserstein come from KLL sketches (k = 1024, rank error ≈ 0.2 %): at a million rows',
    'that error is as large as a significant KS statistic, so sketch KS p-values on undrifted columns (fnlwgt,',
    'capital_loss here) can fall below 0.05 and small normed Wasserstein values are inflated by up to ~0.007. Gate',
    'numeric drift at this scale on PSI, JS or normed Wasserstein ≥ 0.1, not on sketch KS p-values.',
    `Ours peaks at ${fmt(Number(ours.maxRssKiB) / 1024, 0)} MiB RSS of which ~136 MiB is Node + the TypeScript loader at rest; the`,
    'rest is V8 garbage from CSV line splitting, not data (the summaries are tens of KiB).',
    '',
  ];
  writeFileSync(join(ROOT, 'docs/benchmarks/drift.md'), lines.join('\n'));
  console.log('wrote docs/benchmarks/drift.json and docs/benchmarks/drift.md');
}

if (process.argv[2] === '--ours') oursChild(process.argv[3], process.argv[4]);
else main();
