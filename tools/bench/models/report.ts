import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';

/** One measured model on one dataset (the docs/benchmarks/ml.json record shape). */
export interface BenchRecord {
  model: string;
  dataset: string;
  auc: number;
  f1: number;
  train_ms: number;
  infer_row_us: number;
  infer_batch_us_per_row: number;
}

/** Machine description for the report. */
export function machine(): { cores: string; cpu: string; date: string } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // Not Linux: keep os.cpus().
  }
  let cores = String(cpus().length);
  try {
    cores = execSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // nproc missing: keep os.cpus().
  }
  return { cores, cpu, date: new Date().toISOString().slice(0, 10) };
}

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** Markdown table of the records, one row per model and dataset. */
export function markdownTable(records: BenchRecord[]): string {
  const lines = [
    '| dataset | model | ROC AUC | F1 | train ms | 1-row µs | batch µs/row |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of records) {
    lines.push(
      `| ${r.dataset} | ${r.model} | ${fmt(r.auc, 4)} | ${fmt(r.f1, 4)} | ${fmt(r.train_ms, 0)} | ${fmt(r.infer_row_us, 2)} | ${fmt(r.infer_batch_us_per_row, 3)} |`,
    );
  }
  return lines.join('\n');
}

/** Write ml.json, replacing only records of the models measured here. */
export async function writeJson(path: string, records: BenchRecord[]): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  let kept: unknown[] = [];
  if (existsSync(path)) {
    try {
      const old = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      const ours = new Set(records.map((r) => `${r.model}/${r.dataset}`));
      if (Array.isArray(old)) kept = old.filter((r: BenchRecord) => !ours.has(`${r.model}/${r.dataset}`));
    } catch {
      // Unreadable: overwrite.
    }
  }
  const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
  const out = [
    ...kept,
    ...records.map((r) => ({
      model: r.model,
      dataset: r.dataset,
      auc: round(r.auc, 5),
      f1: round(r.f1, 5),
      train_ms: round(r.train_ms, 1),
      infer_row_us: round(r.infer_row_us, 3),
      infer_batch_us_per_row: round(r.infer_batch_us_per_row, 4),
    })),
  ];
  writeFileSync(path, await formatted(path, JSON.stringify(out, null, 2) + '\n'));
}

/** Write the markdown report. */
export async function writeMarkdown(path: string, body: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await formatted(path, body));
}

/** Format with the repository's Prettier settings, so the generated files pass `format:check`. */
async function formatted(path: string, text: string): Promise<string> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(path)) ?? {};
  return prettier.format(text, { ...options, filepath: path });
}
