/**
 * What encoding a dataset version to Parquet costs, without the stack: the tables of the ingestion bench's two paths
 * (a PostgreSQL pull chunk of 50,000 rows of its bench table: x, color, z, y; a Kafka cut of 100,000 Adult rows
 * as the staging thread builds it from checked rows), each encoded by hyparquet-writer 0.17 as writeParquet called
 * it before (snappy), by writeParquet now, and by the same encoder without compression (the codec's share).
 * Reports the encoding thread's CPU time (steadier than wall time on a shared machine) and wall time, medians over
 * BENCH_PARQUET_RUNS (default 20) after 5 warm-up runs, per 50,000 rows, and the file's bytes.
 *
 *   node -r @swc-node/register tools/bench/parquet-encode.ts
 */
import { datasetSchema } from '@keel/contracts';
import { type DatasetTable, readParquet, writeParquet } from '@keel/datasets';
import { fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { checkRows } from '../../apps/ingestion/src/records/record-checks';
import { stagedTable } from '../../apps/ingestion/src/staging/cut-encode.task';
import { encodeParquet, UNCOMPRESSED } from '../../libs/datasets/src/parquet-encoder';

const RUNS = Number(process.env.BENCH_PARQUET_RUNS ?? 20);
const WARM_UP = 5;
const METADATA = { 'keel.pipeline_id': 'bench-parquet' };

/** A chunk of the PG bench's table as the chunk worker gives it to Parquet: the spec's columns of rows g. */
function pgChunk(rows: number): DatasetTable {
  const colors = ['red', 'green', 'blue', 'amber'];
  const x: number[] = [];
  const color: string[] = [];
  const z: number[] = [];
  const y: number[] = [];
  for (let g = 1; g <= rows; g++) {
    x.push(g);
    color.push(colors[g % 4]);
    z.push((g % 1000) / 7);
    y.push(g * 0.5);
  }
  return {
    rowCount: rows,
    columns: [
      { name: 'x', type: 'number', values: x },
      { name: 'color', type: 'string', values: color },
      { name: 'z', type: 'number', values: z },
      { name: 'y', type: 'number', values: y },
    ],
  };
}

/** A cut of the Kafka bench's records (Adult, fnlwgt unique), built as the staging thread builds it. */
function kafkaCut(rows: number): DatasetTable {
  const spec = pipelineSpecFixture('adult-income', { id: 'bench-parquet' });
  const base = fixtureRecords('adult', { count: 10_000, numeric: spec });
  const records = Array.from({ length: rows }, (_, i) => ({ ...base[i % base.length], fnlwgt: 100_000 + i }));
  const staged: { rowsJson: string }[] = [];
  for (let s = 0; s < rows; s += 1_000) {
    staged.push({ rowsJson: JSON.stringify(checkRows(spec, records.slice(s, s + 1_000)).good) });
  }
  return stagedTable(
    datasetSchema(spec).map(({ name, type }) => ({ name, type })),
    staged,
  );
}

/** writeParquet until this encoder: hyparquet-writer 0.17, snappy, dictionary trials, no statistics. */
function hyparquetWriter(table: DatasetTable): Buffer {
  const types = { number: 'DOUBLE', integer: 'DOUBLE', string: 'STRING', boolean: 'BOOLEAN', timestamp: 'STRING' };
  return Buffer.from(
    parquetWriteBuffer({
      columnData: table.columns.map((c) => ({ name: c.name, data: c.values, type: types[c.type] as 'DOUBLE' })),
      statistics: false,
      kvMetadata: [
        {
          key: 'keel.column_types',
          value: JSON.stringify(Object.fromEntries(table.columns.map((c) => [c.name, c.type]))),
        },
        ...Object.entries(METADATA).map(([key, value]) => ({ key, value })),
      ],
    }),
  );
}

const encoders: [string, (table: DatasetTable) => Buffer][] = [
  ['hyparquet-writer 0.17, snappy (before)', hyparquetWriter],
  ['writeParquet: own encoder, zstd 1 (now)', (table) => writeParquet(table, METADATA)],
  ['own encoder, uncompressed', (table) => encodeParquet(table, [], UNCOMPRESSED)],
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

interface Result {
  table: string;
  encoder: string;
  cpuMsPer50k: number;
  wallMsPer50k: number;
  bytes: number;
}

async function main(): Promise<void> {
  const results: Result[] = [];
  for (const [name, table] of [
    ['PostgreSQL chunk, 50,000 rows x 4 columns', pgChunk(50_000)],
    ['Kafka cut, 100,000 Adult rows x 15 columns', kafkaCut(100_000)],
  ] as const) {
    for (const [encoder, encode] of encoders) {
      const bytes = encode(table);
      // Every encoder's file reads back to the table (the uncompressed one has no column types: compare values).
      const read = await readParquet(bytes);
      for (let c = 0; c < table.columns.length; c++) {
        if (JSON.stringify(read.columns[c].values) !== JSON.stringify(table.columns[c].values)) {
          throw new Error(`${encoder}: column ${table.columns[c].name} does not read back`);
        }
      }
      for (let i = 0; i < WARM_UP; i++) encode(table);
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const cpuStart = process.threadCpuUsage();
        const wallStart = process.hrtime.bigint();
        encode(table);
        wall.push(Number(process.hrtime.bigint() - wallStart) / 1e6);
        const used = process.threadCpuUsage(cpuStart);
        cpu.push((used.user + used.system) / 1e3);
      }
      const per50k = 50_000 / table.rowCount;
      results.push({
        table: name,
        encoder,
        cpuMsPer50k: median(cpu) * per50k,
        wallMsPer50k: median(wall) * per50k,
        bytes: bytes.length,
      });
    }
  }
  console.log(`Parquet encoding, medians of ${RUNS} runs, per 50,000 rows (thread CPU time; wall time):`);
  for (const r of results) {
    console.log(
      `${r.table.padEnd(44)} ${r.encoder.padEnd(42)} ${r.cpuMsPer50k.toFixed(1).padStart(6)} ms CPU ` +
        `${r.wallMsPer50k.toFixed(1).padStart(6)} ms wall ${r.bytes.toLocaleString('en-US').padStart(11)} bytes`,
    );
  }
  console.log(JSON.stringify({ runs: RUNS, results }));
}

void main();
