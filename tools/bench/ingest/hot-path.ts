/**
 * Where ingestion's CPU goes per record, without the stack (no I/O): each step of the Kafka path (decode and
 * validate an event, check its records, stage them as JSON text, decode them again at the cut, encode Parquet) and of
 * a PostgreSQL chunk (COPY text to Parquet), timed over BENCH_HOT_RECORDS (default 100,000) Adult records in events
 * of 1,000. The schema-validation row is what decoding cost before DataRecordsV1's quick check. Prints a table.
 *
 *   node -r @swc-node/register tools/bench/ingest/hot-path.ts
 */
import { createHash } from 'node:crypto';
import { DataRecordsV1, datasetSchema, encodeCloudEventHeaders, PipelineSpecV1 } from '@keel/contracts';
import { tableFromRecords } from '@keel/datasets';
import { decodeRecord } from '@keel/messaging';
import { fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { datasetParquet } from '../../../apps/ingestion/src/datasets/dataset-parquet';
import { checkColumns, checkRecords, checkRows } from '../../../apps/ingestion/src/records/record-checks';
import { framedCopyData } from '../../../apps/ingestion/src/sources/copy-out';
import { encodePgChunk } from '../../../apps/ingestion/src/sources/pg-chunk.task';
import { stagedTable } from '../../../apps/ingestion/src/staging/cut-encode.task';

const N = Number(process.env.BENCH_HOT_RECORDS ?? 100_000);
const EVENT = 1_000;
const spec = pipelineSpecFixture('adult-income', { id: 'bench-hot-path' });
const base = fixtureRecords('adult', { count: 10_000, numeric: spec });
const records = Array.from({ length: N }, (_, i) => ({ ...base[i % base.length], fnlwgt: 100_000 + i }));
const headers = encodeCloudEventHeaders({ id: 'e', source: '/bench', type: DataRecordsV1.topic, specversion: '1.0' });
const values: Buffer[] = [];
for (let s = 0; s < N; s += EVENT) {
  values.push(
    Buffer.from(JSON.stringify({ pipelineId: spec.id, source: 'bench', records: records.slice(s, s + EVENT) })),
  );
}
const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
const timings: [string, number][] = [];

function time<T>(label: string, step: () => T): T {
  global.gc?.();
  const started = process.hrtime.bigint();
  const result = step();
  timings.push([label, Number(process.hrtime.bigint() - started) / 1e3 / N]);
  return result;
}

const inbound = (value: Buffer, i: number) => ({
  topic: DataRecordsV1.topic,
  partition: 0,
  offset: String(i),
  key: null,
  value,
  headers,
});
time('JSON.parse of the event values (the bare consumer)', () => values.map((v) => JSON.parse(v.toString())));
time('before: zod schema of the parsed events', () =>
  values.map((v) => DataRecordsV1.schema.parse(JSON.parse(v.toString()))),
);
const events = time('decode: JSON.parse + quick check', () =>
  values.map((v, i) => decodeRecord(DataRecordsV1, inbound(v, i))),
);
time('before: checkRecords (records as objects)', () => events.map((e) => checkRecords(spec, e.data.records).good));
const rows = time('before: checkRows (rows of the schema columns)', () =>
  events.map((e) => checkRows(spec, e.data.records).good),
);
const columns = time('checkColumns (columns of the schema)', () =>
  events.map((e) => checkColumns(spec, e.data.records).good),
);
const before = events.map((e) => JSON.stringify(checkRecords(spec, e.data.records).good));
time('before: staged JSON.stringify of records', () => events.map((e) => JSON.stringify(e.data.records)));
time('before: staged JSON.stringify of rows', () => rows.map((r) => JSON.stringify(r)));
const staged = time('staged JSON.stringify of columns', () => columns.map((c) => JSON.stringify(c)));
time('before: cut JSON.parse + tableFromRecords', () =>
  tableFromRecords(
    before.flatMap((j) => JSON.parse(j)),
    schema,
  ),
);
const table = time('cut stagedTable from the staged text (a cut of batches not kept)', () =>
  stagedTable(
    schema,
    staged.map((rowsJson) => ({ rowsJson })),
  ),
);
const parquet = time('cut Parquet encode (writeParquet)', () => datasetParquet(spec, table));
time('cut sha256', () => createHash('sha256').update(parquet).digest('hex'));

// A PostgreSQL chunk as the bench's table prints it with COPY: id, updated_at, x, color, z, y.
const colors = ['red', 'green', 'blue', 'amber'];
const lines: string[] = [];
for (let g = 1; g <= N; g++) {
  const at = new Date(Date.UTC(2026, 0, 1) + Math.floor(g / 10) * 1000).toISOString().replace('T', ' ').slice(0, 19);
  lines.push(`${g}\t${at}+00\t${g}\t${colors[g % 4]}\t${(g % 1000) / 7}\t${g * 0.5}\n`);
}
const bytes = framedCopyData(lines);
const pgSpec = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'bench-hot-path-pg',
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
time('PostgreSQL: COPY text → checked rows → Parquet', () =>
  encodePgChunk({ pipelineId: spec.id, schema: datasetSchema(pgSpec), fields, keyField: 0, bytes, maxRejections: 20 }),
);

console.log(`µs per record over ${N.toLocaleString('en-US')} records (Adult, events of ${EVENT}):`);
for (const [label, micros] of timings) console.log(`${micros.toFixed(2).padStart(8)}  ${label}`);
