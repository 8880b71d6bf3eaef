/**
 * Monitoring's hot path in one process, without the stack: the recorded prediction log (the same v2 events the stack
 * bench publishes) decoded, validated against the contract, applied to a partition's state, archived (gzip and id
 * filter, object store faked) and snapshotted once per second of rows, single-threaded; then the cost of evaluating
 * a closed window, as the worker's group task evaluates a hundred of them (on this thread). What Kafka, the database and the object store add is in
 * `npm run bench:monitoring`, which runs this first. Writes docs/benchmarks/monitoring-hot-path.json.
 *
 *   node -r @swc-node/register tools/bench/monitoring-hot-path.ts   # BENCH_ROWS (500,000), BENCH_ROWS_PER_EVENT,
 *                                                                   # BENCH_WINDOW_ROWS (10000,2000,500)
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { decodeCloudEvent, encodeCloudEventHeaders, PredictionLoggedV2, type Scalar } from '@keel/contracts';
import { fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { type ArchiveRecord, PredictionArchive } from '../../apps/monitoring/src/archive/prediction-archive';
import { evaluateDriftWindows } from '../../apps/monitoring/src/drift/drift-evaluator.task';
import {
  type ClosedWindow,
  PartitionState,
  type PredictionBatch,
} from '../../apps/monitoring/src/stream/partition-state';
import { adultBatch, adultPackage } from '../../apps/monitoring/src/test-support/monitoring-under-test';
import { repoRoot } from '../stack/paths';

const ROWS = Number(process.env.BENCH_ROWS ?? 500_000);
const ROWS_PER_EVENT = Number(process.env.BENCH_ROWS_PER_EVENT ?? 1_000);
const SNAPSHOT_EVERY_ROWS = 50_000;
/** Window sizes, as bench:monitoring's (BENCH_WINDOW_ROWS); 500 is the pipeline spec's default. */
export const WINDOW_SIZES = (process.env.BENCH_WINDOW_ROWS ?? '10000,2000,500').split(',').map(Number);
/** Windows evaluated together, as the service's group report does under load. */
const EVALUATED_WINDOWS = 100;

type Row = Record<string, Scalar>;

export interface HotPathResult {
  windowRows: number;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  cpuMsPer1000Rows: number;
  windowsClosed: number;
  evaluationMsPerWindow: number;
  archivedBytesPerRow: number;
}

async function main(): Promise<void> {
  const spec = pipelineSpecFixture('adult-income', { id: 'bench-hot-path' });
  const rows = fixtureRecords('adult', { count: 20_000, numeric: spec }) as Row[];
  const pkg = adultPackage(spec, rows.slice(0, 2_000), { modelName: 'bench', codeVersion: 'bench' });
  const served = rows.slice(2_000);
  const headers = encodeCloudEventHeaders({
    id: 'e',
    source: '/keel/bench',
    type: PredictionLoggedV2.topic,
    specversion: '1.0',
  });
  const recorded: Buffer[] = [];
  for (let start = 0, e = 0; start < ROWS; start += ROWS_PER_EVENT, e++) {
    const slice = Array.from({ length: Math.min(ROWS_PER_EVENT, ROWS - start) }, (_, i) => {
      const row = served[(start + i) % served.length];
      return start + i < ROWS / 2 ? row : { ...row, age: Number(row.age) + 30 };
    });
    const batch = adultBatch(slice, {
      pipelineId: spec.id,
      modelName: 'bench',
      modelVersion: 1,
      batchId: `b-${e}`,
      servedAt: 1_800_000_000_000 + start,
    });
    recorded.push(Buffer.from(JSON.stringify(batch)));
  }
  let archivedBytes = 0;
  const archive = new PredictionArchive({
    objects: {
      putContentAddressed: async (_bucket: string, _prefix: string, bytes: Buffer) => {
        archivedBytes += bytes.length;
        return { uri: 's3://keel-monitoring/x', sha256: '0'.repeat(64) };
      },
    },
  } as never);
  const results: HotPathResult[] = [];
  for (const windowRows of WINDOW_SIZES) {
    const state = new PartitionState();
    const closed: ClosedWindow[] = [];
    let pending: ArchiveRecord[] = [];
    let sinceSnapshot = 0;
    archivedBytes = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (const value of recorded) {
      const { data } = decodeCloudEvent(headers, value);
      const parsed = PredictionLoggedV2.schema.safeParse(data);
      if (!parsed.success) throw new Error('recorded event does not match the contract');
      const batch = data as PredictionBatch;
      closed.push(...state.apply(batch, { windowRows, reference: pkg.reference }));
      pending.push({ batch, bytes: value });
      sinceSnapshot += batch.rows;
      if (sinceSnapshot >= SNAPSHOT_EVERY_ROWS) {
        JSON.stringify(state.toJSON());
        await archive.write(pending);
        pending = [];
        sinceSnapshot = 0;
      }
    }
    await archive.write(pending);
    const seconds = (performance.now() - started) / 1_000;
    const used = process.cpuUsage(cpu);
    // The second half's windows drift (their KS p-values are the costly ones): as many from each half.
    const half = Math.floor(closed.length / 2);
    const each = Math.min(half, EVALUATED_WINDOWS / 2);
    const sample = [...closed.slice(half - each, half), ...closed.slice(half, half + each)];
    const evaluate = (windows: readonly ClosedWindow[]) => {
      const evaluated = evaluateDriftWindows({
        windows: windows.map((window) => ({
          reference: pkg.reference,
          summariesJson: window.summariesJson!,
          tests: { psiThreshold: 0.2 },
          ...(window.predictionDrift ? { predictionDrift: window.predictionDrift } : {}),
        })),
      });
      if (evaluated.results.some((result) => 'error' in result)) throw new Error('a window failed to evaluate');
    };
    // Compiled and warm, as a worker is once it has evaluated its first windows.
    evaluate(sample.slice(0, 2));
    const evaluationStarted = performance.now();
    evaluate(sample);
    const evaluationMs = (performance.now() - evaluationStarted) / sample.length;
    const result: HotPathResult = {
      windowRows,
      rows: ROWS,
      seconds: Math.round(seconds * 100) / 100,
      rowsPerSecond: Math.round(ROWS / seconds),
      cpuMsPer1000Rows: Math.round(((used.user + used.system) / 1_000 / ROWS) * 1_000 * 100) / 100,
      windowsClosed: closed.length,
      evaluationMsPerWindow: Math.round(evaluationMs * 10) / 10,
      archivedBytesPerRow: Math.round((archivedBytes / ROWS) * 10) / 10,
    };
    console.log(JSON.stringify(result));
    results.push(result);
  }
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const json = { startedAt, cpus: cpus().length, node: process.version, rowsPerEvent: ROWS_PER_EVENT, results };
  writeFileSync(join(repoRoot, 'docs', 'benchmarks', 'monitoring-hot-path.json'), `${JSON.stringify(json, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
