/**
 * Whether a PostgreSQL pull's worker-thread memory grows with the rows pulled, without the stack: encodes
 * BENCH_CHUNKS (default 40) chunks of 50,000 COPY text rows (the bench table's shape) one after another on the
 * service's worker pool, as a pull does, and prints the process's RSS (sampled every 20 ms) every 5 chunks. The
 * chunks' bytes are made once, so what grows is the pool's. On this machine (2026-12-03 12:06) RSS rose from 388 MiB
 * at rest to a 703 MiB peak by chunk 17 and stayed there to chunk 40 (2,000,000 rows): V8 sizing the worker's heap
 * to its allocation rate, not rows kept.
 *
 *   node -r @swc-node/register tools/bench/ingest/worker-memory.ts
 */
import { WorkerPool } from '@keel/workers';
import { datasetSchema, PipelineSpecV1 } from '@keel/contracts';
import { pgChunkTask } from '../../../apps/ingestion/src/sources/pg-chunk.task';
import { framedCopyData } from '../../../apps/ingestion/src/sources/copy-out';
const pool = new WorkerPool({ threads: 1 });
const colors = ['red', 'green', 'blue', 'amber'];
/** COPY text of rows `from`.. as the bench's table prints them: id, updated_at, x, color, z, y. */
function chunk(from: number, n: number) {
  const lines: string[] = [];
  for (let g = from; g < from + n; g++) {
    const at = new Date(Date.UTC(2026, 0, 1) + Math.floor(g / 10) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    lines.push(`${g}\t${at}+00\t${g}\t${colors[g % 4]}\t${(g % 1000) / 7}\t${g * 0.5}\n`);
  }
  return framedCopyData(lines);
}
const spec = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'mem-test',
  task: 'regression',
  target: { column: 'y' },
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'color', type: 'categorical' },
    { name: 'z', type: 'numeric' },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
});
const fields = ['id', 'updated_at', 'x', 'color', 'z', 'y'].map((name, i) => ({
  name,
  typeId: [20, 1184, 701, 25, 701, 701][i],
}));
const MIB = 1024 * 1024;
async function main(): Promise<void> {
  await pool.warm(pgChunkTask);
  console.log('rest', (process.memoryUsage().rss / MIB).toFixed(0));
  const CH = 50_000;
  let peak = 0;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const pre = chunk(1, CH);
  const started = process.hrtime.bigint();
  for (let i = 0; i < Number(process.env.BENCH_CHUNKS ?? 40); i++) {
    const bytes = Buffer.from(pre);
    await pool.run(pgChunkTask, {
      pipelineId: spec.id,
      schema: datasetSchema(spec),
      fields,
      keyField: 0,
      bytes,
      maxRejections: 20,
    });
    if (i % 5 === 4)
      console.log(
        i + 1,
        'rss',
        (process.memoryUsage().rss / MIB).toFixed(0),
        'peak',
        (peak / MIB).toFixed(0),
        'heap',
        (process.memoryUsage().heapUsed / MIB).toFixed(0),
        'ext',
        (process.memoryUsage().external / MIB).toFixed(0),
      );
  }
  clearInterval(t);
  const chunks = Number(process.env.BENCH_CHUNKS ?? 40);
  console.log('µs a row', (Number(process.hrtime.bigint() - started) / 1e3 / (chunks * CH)).toFixed(2));
  await pool.close();
}

void main();
