/**
 * Event-loop responsiveness under heavy jobs: each job of 1M rows runs twice per round, once the old way (on the
 * service's main thread) and once the way the services run it now (on the @keel/workers pool), alternating, while
 * perf_hooks.monitorEventLoopDelay samples the main thread. The max delay is how long a Kafka heartbeat or a
 * liveness probe would have waited. Writes docs/benchmarks/event-loop.json and docs/benchmarks/event-loop.md.
 *
 *   npm run bench:event-loop                  # 1,000,000 rows, 2 rounds
 *   BENCH_ROWS=100000 BENCH_ROUNDS=1 npm run bench:event-loop
 */
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { datasetSchema, type PipelineSpecV1 } from '@keel/contracts';
import { type DatasetTable, SPLIT_COLUMN, tableFromRecords, writeParquet } from '@keel/datasets';
import { fitTransform, type RawValue, stableStringify } from '@keel/ml-models';
import { buildReference, signatureFromSpec } from '@keel/model-package';
import { parsePipelineSpec } from '@keel/pipelines';
import { movableBuffers, WorkerPool } from '@keel/workers';
import { columnSpecs } from '../../apps/features/src/feature-sets/feature-set';
import { datasetParquet } from '../../apps/ingestion/src/datasets/dataset-parquet';
import { checkRecords } from '../../apps/ingestion/src/records/record-checks';
import { fileUploadTask } from '../../apps/ingestion/src/uploads/file-upload.task';
import { CsvParser, parseCsv } from '../../apps/ingestion/src/uploads/csv';
import { UploadsService } from '../../apps/ingestion/src/uploads/uploads.service';
import { evaluateWindow } from '../../apps/monitoring/src/drift/drift-evaluator';
import { driftWindowTask, type WindowColumn } from '../../apps/monitoring/src/drift/drift-evaluator.task';
import {
  trainAndPackage,
  type TrainingRunInput,
  trainingRunTask,
} from '../../apps/training/src/training-runs/training-run.task';
import { CATEGORICAL, NUMERIC, writeDataset } from './drift/dataset';

const ROOT = join(__dirname, '../..');
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const DATA = '/tmp/keel-event-loop-bench';

/** The Adult-like columns of the drift bench; `sex` plays the binary target. */
const spec: PipelineSpecV1 = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'event-loop-bench',
  task: 'binary-classification',
  target: { column: 'sex', positive: 'Female' },
  features: [
    ...NUMERIC.map((name) => ({ name, type: 'numeric', impute: 'mean', standardize: true })),
    ...CATEGORICAL.filter((name) => name !== 'sex').map((name) => ({ name, type: 'categorical' })),
  ],
  training: { algorithms: ['logistic-regression'], primaryMetric: 'auc', seed: 42 },
});

/** The three jobs, by the key their results are compared under. */
const JOBS = {
  training: 'training (logistic regression)',
  csv: 'CSV upload',
  drift: 'drift evaluation',
} as const;
type JobKey = keyof typeof JOBS;

interface Measurement {
  job: JobKey;
  path: 'main thread' | 'worker pool';
  round: number;
  wallMs: number;
  maxDelayMs: number;
  p99DelayMs: number;
  meanDelayMs: number;
}

/** Runs `job` while sampling the main thread's event-loop delay every 10 ms. */
async function measure(job: JobKey, path: Measurement['path'], round: number, work: () => Promise<unknown>) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  // A timer that keeps the loop sampling even when the job awaits nothing else.
  const ticker = setInterval(() => undefined, 10);
  histogram.enable();
  // The histogram records the gap between two of its timer's firings: let it fire once before the job starts.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = performance.now();
  await work();
  const wallMs = performance.now() - started;
  // A loop blocked to the end records its delay only when the late timer fires: let it.
  await new Promise((resolve) => setTimeout(resolve, 50));
  histogram.disable();
  clearInterval(ticker);
  const measurement: Measurement = {
    job,
    path,
    round,
    wallMs: Math.round(wallMs),
    maxDelayMs: round1(histogram.max / 1e6),
    p99DelayMs: round1(histogram.percentile(99) / 1e6),
    meanDelayMs: round1(histogram.mean / 1e6),
  };
  console.log(
    `${JOBS[job].padEnd(32)} ${path.padEnd(12)} round ${round}: wall ${measurement.wallMs} ms, max event-loop delay ${measurement.maxDelayMs} ms`,
  );
  return measurement;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The bench's CSV file: ROWS Adult-like rows, generated once. */
function csvFile(): string {
  mkdirSync(DATA, { recursive: true });
  const path = join(DATA, `adult-like-${ROWS}.csv`);
  if (!existsSync(path)) writeDataset(path, ROWS, 7, false);
  return path;
}

/** The file's columns, numbers parsed, read with the streaming parser (setup, not measured). */
async function readColumns(path: string): Promise<Record<string, (number | string)[]>> {
  const columns: Record<string, (number | string)[]> = {};
  let header: string[] | undefined;
  const parser = new CsvParser((fields) => {
    if (!header) {
      header = fields;
      for (const name of header) columns[name] = [];
      return;
    }
    fields.forEach((value, i) => {
      const name = header![i];
      columns[name].push((NUMERIC as readonly string[]).includes(name) ? Number(value) : value);
    });
  });
  for await (const chunk of createReadStream(path, { encoding: 'utf8' })) parser.push(chunk as string);
  parser.end();
  return columns;
}

/** A 1M-row feature set as training reads it: Parquet with a seeded split, and the transform fitted on train. */
function trainingInput(columns: Record<string, (number | string)[]>): TrainingRunInput {
  const split = Array.from({ length: ROWS }, (_, i) =>
    i % 5 === 0 ? 'holdout' : i % 10 === 1 ? 'validation' : 'train',
  );
  const names = [...spec.features.map((f) => f.name), spec.target.column];
  const table: DatasetTable = {
    rowCount: ROWS,
    columns: [
      ...names.map((name) => ({
        name,
        type: (NUMERIC as readonly string[]).includes(name) ? ('number' as const) : ('string' as const),
        values: columns[name],
      })),
      { name: SPLIT_COLUMN, type: 'string', values: split },
    ],
  };
  const trainRaw: Record<string, RawValue[]> = {};
  for (const feature of spec.features)
    trainRaw[feature.name] = columns[feature.name].filter((_, i) => split[i] === 'train');
  const transform = fitTransform(trainRaw, columnSpecs(spec));
  const featureSet = writeParquet(table);
  return {
    spec,
    seed: 42,
    featureSet,
    transform: Buffer.from(stableStringify(transform)),
    features: {
      pipelineId: spec.id,
      datasetVersionId: `ds-${'0'.repeat(32)}`,
      datasetSha256: '0'.repeat(64),
      featureSetId: `fs-${'0'.repeat(32)}`,
      featureSetUri: 's3://keel-features/bench/fs.parquet',
      featureSetSha256: '1'.repeat(64),
      transformUri: 's3://keel-features/bench/t.json',
      transformSha256: '2'.repeat(64),
      rowCounts: { train: 0, validation: 0, holdout: 0 },
    } as TrainingRunInput['features'],
  };
}

/** The CSV upload as ingestion handled it before: the body buffered whole, parsed, checked and encoded in place. */
async function uploadInThread(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path)) chunks.push(chunk as Buffer);
  const { header, rows } = parseCsv(Buffer.concat(chunks).toString('utf8'));
  const wanted = datasetSchema(spec)
    .map((column) => ({ name: column.name, index: header.indexOf(column.name) }))
    .filter(({ index }) => index >= 0);
  const records = rows.map(({ fields }) => {
    const record: Record<string, string | null> = {};
    for (const { name, index } of wanted) record[name] = fields[index] === '' ? null : fields[index];
    return record;
  });
  const { good, bad } = checkRecords(spec, records);
  if (bad.length > 0) throw new Error(bad[0].reason);
  const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
  return datasetParquet(spec, tableFromRecords(good, schema));
}

/** The CSV upload as ingestion handles it now: UploadsService streaming the body to the pool. */
function uploadService(pool: WorkerPool): UploadsService {
  const infra = { pipelines: { get: async () => ({ spec, version: 1 }) } };
  const versions = { write: async (_: unknown, encoded: { parquet: Buffer }) => encoded.parquet };
  return new UploadsService(infra as never, versions as never, pool);
}

function driftReference(columns: Record<string, (number | string)[]>) {
  return buildReference(signatureFromSpec(spec), columns as Record<string, (number | string | null)[]>);
}

/** A shifted window's columns as the pool takes them (numbers as a Float64Array, categories as codes). */
function windowColumns(columns: Record<string, (number | string)[]>): Record<string, WindowColumn> {
  const out: Record<string, WindowColumn> = {};
  for (const feature of spec.features) {
    const values = columns[feature.name];
    if (feature.type === 'numeric') {
      out[feature.name] = { kind: 'numeric', values: Float64Array.from(values as number[], (v) => v * 1.1) };
    } else {
      const categories = [...new Set(values as string[])];
      const index = new Map(categories.map((c, i) => [c, i]));
      out[feature.name] = {
        kind: 'categorical',
        codes: Int32Array.from(values as string[], (v) => index.get(v)!),
        categories,
      };
    }
  }
  return out;
}

/** The same window as rows, the shape evaluateWindow took on the main thread. */
function windowRows(columns: Record<string, WindowColumn>): Record<string, number | string | null>[] {
  const rows: Record<string, number | string | null>[] = Array.from({ length: ROWS }, () => ({}));
  for (const [name, column] of Object.entries(columns)) {
    if (column.kind === 'numeric') column.values.forEach((v, i) => (rows[i][name] = v));
    else column.codes.forEach((code, i) => (rows[i][name] = column.categories[code]));
  }
  return rows;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

async function main(): Promise<void> {
  console.log(`event-loop bench: ${ROWS} rows, ${ROUNDS} rounds, ${cpus().length} cores, Node ${process.version}`);
  const path = csvFile();
  const columns = await readColumns(path);
  const pool = new WorkerPool({ threads: 1 });
  await Promise.all([pool.warm(trainingRunTask), pool.warm(fileUploadTask), pool.warm(driftWindowTask)]);
  const uploads = uploadService(pool);
  const reference = driftReference(columns);
  const measurements: Measurement[] = [];
  const identical: Record<JobKey, boolean> = { training: true, csv: true, drift: true };

  for (let round = 1; round <= ROUNDS; round++) {
    // Training: the same feature set trained on the main thread, then on the pool; the package must not change.
    let input = trainingInput(columns);
    let here: Awaited<ReturnType<typeof trainAndPackage>> | undefined;
    measurements.push(
      await measure('training', 'main thread', round, async () => {
        here = await trainAndPackage(input, { progress: () => undefined });
      }),
    );
    input = trainingInput(columns);
    let there: Awaited<ReturnType<typeof trainAndPackage>> | undefined;
    measurements.push(
      await measure('training', 'worker pool', round, async () => {
        there = await pool.run(trainingRunTask, input, { transferList: movableBuffers(input.featureSet) });
      }),
    );
    identical.training &&= sameBytes(here!.packageBytes, there!.packageBytes);

    // CSV upload: buffered and parsed in place, then streamed to the pool.
    let inThread: Uint8Array | undefined;
    let pooled: Uint8Array | undefined;
    measurements.push(
      await measure('csv', 'main thread', round, async () => {
        inThread = await uploadInThread(path);
      }),
    );
    measurements.push(
      await measure('csv', 'worker pool', round, async () => {
        pooled = (await uploads.upload(spec.id, createReadStream(path), 'bench.csv')) as unknown as Uint8Array;
      }),
    );
    identical.csv &&= sameBytes(inThread!, pooled!);

    // Drift: a 1M-row window summarized and compared with the reference.
    const rows = windowRows(windowColumns(columns));
    let driftHere: unknown;
    let driftThere: unknown;
    measurements.push(
      await measure('drift', 'main thread', round, async () => {
        driftHere = evaluateWindow(reference, rows, { psiThreshold: 0.2 });
      }),
    );
    const window = windowColumns(columns);
    const transferList = movableBuffers(
      ...Object.values(window).map((c) => (c.kind === 'numeric' ? c.values : c.codes)),
    );
    measurements.push(
      await measure('drift', 'worker pool', round, async () => {
        driftThere = (
          await pool.run(
            driftWindowTask,
            { reference, columns: window, tests: { psiThreshold: 0.2 } },
            { transferList },
          )
        ).drift;
      }),
    );
    identical.drift &&= JSON.stringify(driftHere) === JSON.stringify(driftThere);
  }
  await pool.close();
  report(measurements, identical);
}

function report(measurements: Measurement[], identical: Record<JobKey, boolean>): void {
  const date = new Date().toISOString();
  const machine = { nproc: cpus().length, cpuModel: cpus()[0]?.model.trim(), node: process.version };
  const jobs = Object.keys(JOBS) as JobKey[];
  const summary = jobs.map((job) => {
    const of = (path: Measurement['path']) => measurements.filter((m) => m.job === job && m.path === path);
    const worst = (list: Measurement[], key: 'maxDelayMs' | 'wallMs') => Math.max(...list.map((m) => m[key]));
    return {
      job: JOBS[job],
      sameResult: identical[job],
      before: { maxDelayMs: worst(of('main thread'), 'maxDelayMs'), wallMs: worst(of('main thread'), 'wallMs') },
      after: { maxDelayMs: worst(of('worker pool'), 'maxDelayMs'), wallMs: worst(of('worker pool'), 'wallMs') },
    };
  });
  mkdirSync(join(ROOT, 'docs/benchmarks'), { recursive: true });
  writeFileSync(
    join(ROOT, 'docs/benchmarks/event-loop.json'),
    JSON.stringify({ date, machine, rows: ROWS, rounds: ROUNDS, identical, summary, measurements }, null, 2) + '\n',
  );
  const lines = [
    '# Event-loop responsiveness',
    '',
    `Latest run: ${date} on ${machine.nproc} × ${machine.cpuModel}, Node ${machine.node}, ${ROWS.toLocaleString('en-US')} rows per job, ` +
      `${ROUNDS} rounds alternating the two paths. Regenerate with \`npm run bench:event-loop\`.`,
    '',
    'Max event-loop delay of the service main thread (perf_hooks.monitorEventLoopDelay, 10 ms resolution) while one job',
    'runs: how long a Kafka heartbeat or a `/health/live` probe would have waited. "Before" runs the job on the main',
    'thread, as the services did; "after" runs it on the `@keel/workers` pool (one worker thread), as they do now. Worst',
    'of the rounds; the JSON has every measurement.',
    '',
    '| job | max delay before | max delay after | wall time before | wall time after | same result |',
    '| --- | --- | --- | --- | --- | --- |',
    ...summary.map(
      (s) =>
        `| ${s.job} | ${s.before.maxDelayMs} ms | ${s.after.maxDelayMs} ms | ${(s.before.wallMs / 1000).toFixed(1)} s | ` +
        `${(s.after.wallMs / 1000).toFixed(1)} s | ${s.sameResult ? 'yes' : 'no'} |`,
    ),
    '',
  ];
  writeFileSync(join(ROOT, 'docs/benchmarks/event-loop.md'), lines.join('\n'));
  console.log('wrote docs/benchmarks/event-loop.json and docs/benchmarks/event-loop.md');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
