import { createHash } from 'node:crypto';
import { MessageChannel, threadId } from 'node:worker_threads';
import { datasetSchema, SourceCleaning } from '@keel/contracts';
import { readParquet, tableFromRecords } from '@keel/datasets';
import { WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetParquet } from '../datasets/dataset-parquet';
import { checkRecords } from '../records/record-checks';
import { parseCsv } from './csv';
import { encodeUpload, fileUploadTask, type UploadBodyMessage, type UploadOutcome } from './file-upload.task';
import { uploadTestSpec } from './upload-test-spec';

const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));

const spec = uploadTestSpec('csv-unit');

/** 500 rows with CRLF line ends, quoted fields holding commas and "" escapes, and non-ASCII text. */
const file =
  'age,city,income,extra\r\n' +
  Array.from({ length: 500 }, (_, i) => `${20 + (i % 50)},"Zürich, ""${i % 7}""",${i % 3 ? '<=50K' : '>50K'},x`).join(
    '\r\n',
  ) +
  '\r\n';

/** The file's bytes cut into pieces of `size` bytes: cuts fall inside CRLFs, "" escapes and multi-byte characters. */
function pieces(text: string | Buffer, size: number): Uint8Array[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(new Uint8Array(bytes.subarray(at, at + size)));
  return out;
}

async function* stream(chunks: Uint8Array[]): AsyncGenerator<Uint8Array, boolean> {
  for (const chunk of chunks) yield chunk;
  return true;
}

/** What ingestion made of a whole file before uploads streamed: parsed at once, checked, encoded. */
function encodedAtOnce(text: string): Buffer {
  const { header, rows } = parseCsv(text);
  const records = rows.map(({ fields }) => {
    const record: Record<string, string | null> = {};
    for (const column of datasetSchema(spec)) {
      const index = header.indexOf(column.name);
      if (index >= 0) record[column.name] = fields[index] === '' ? null : fields[index];
    }
    return record;
  });
  const { good, bad } = checkRecords(spec, records);
  expect(bad).toEqual([]);
  return datasetParquet(spec, tableFromRecords(good, datasetSchema(spec)));
}

const noProgress = { progress: () => undefined };

describe('encodeUpload of CSV', () => {
  it('encodes a file streamed in pieces of any size to the Parquet of the whole file', async () => {
    const expected = encodedAtOnce(file);
    for (const size of [1, 2, 3, 7, 64, 4096]) {
      const outcome = await encodeUpload(spec, 'csv', stream(pieces(file, size)), noProgress);
      expect(outcome.kind).toBe('encoded');
      const { parquet, rowCount } = outcome as Extract<UploadOutcome, { kind: 'encoded' }>;
      expect(rowCount).toBe(500);
      expect(Buffer.from(parquet).equals(expected)).toBe(true);
    }
  });

  it('says why a file is not a dataset version: malformed, without rows, or with bad rows (first ones listed)', async () => {
    const run = (text: string) => encodeUpload(spec, 'csv', stream(pieces(text, 5)), noProgress);
    expect(await run('age,city,income\n1,a,x\n2,"b\n')).toEqual({
      kind: 'malformed',
      problem: 'line 3: unterminated quoted field (is the file truncated?)',
    });
    expect(await run('age,city\n1,a\n')).toEqual({
      kind: 'malformed',
      problem: 'line 1: the header lacks columns the spec requires: income',
    });
    expect(await run('age,city,income\n1,a\n')).toEqual({
      kind: 'malformed',
      problem: 'line 2: expected 3 fields, found 2',
    });
    expect(await run('age,city,income\n\n')).toEqual({ kind: 'no-rows', rowsRead: 0 });
    // Windows-1252 (Excel's export on many machines): refused, not stored as "caf\uFFFD".
    const latin1 = Buffer.from('age,city,income\n1,Zürich,x\n2,café,x\n', 'latin1');
    expect(await encodeUpload(spec, 'csv', stream(pieces(latin1, 5)), noProgress)).toEqual({
      kind: 'malformed',
      problem: 'line 2: not UTF-8 text',
    });
    const bad = Array.from({ length: 30 }, (_, i) => `old${i},a,x`).join('\n');
    const rejected = await run(`age,city,income\n1,a,x\n${bad}\n`);
    expect(rejected).toMatchObject({ kind: 'rejected', badCount: 30, rowCount: 31 });
    expect((rejected as { issues: string[] }).issues).toHaveLength(20);
    expect((rejected as { issues: string[] }).issues[0]).toBe('line 3: age "old0" is not a number');
  });
});

describe('encodeUpload of JSON Lines and Parquet', () => {
  /** The rows of `file` as values: age a number, city text, income text. */
  const rows = Array.from({ length: 500 }, (_, i) => ({
    age: 20 + (i % 50),
    city: `Zürich, "${i % 7}"`,
    income: i % 3 ? '<=50K' : '>50K',
    extra: 'x',
  }));

  it('encodes the JSON Lines of the same rows to the same bytes as the CSV, in pieces of any size', async () => {
    const jsonl = rows.map((row) => JSON.stringify(row)).join('\r\n') + '\n\n';
    for (const size of [1, 3, 64, 4096]) {
      const outcome = await encodeUpload(spec, 'jsonl', stream(pieces(jsonl, size)), noProgress);
      expect(outcome).toMatchObject({ kind: 'encoded', rowCount: 500 });
      const { parquet } = outcome as Extract<UploadOutcome, { kind: 'encoded' }>;
      expect(Buffer.from(parquet).equals(encodedAtOnce(file))).toBe(true);
    }
  });

  it('encodes a Parquet file of the same rows (int64 ages, two row groups) to the same bytes as the CSV', async () => {
    const bytes = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'age', data: rows.map((row) => BigInt(row.age)), type: 'INT64' },
          { name: 'city', data: rows.map((row) => row.city), type: 'STRING' },
          { name: 'income', data: rows.map((row) => row.income), type: 'STRING' },
        ],
        rowGroupSize: 300,
      }),
    );
    const outcome = await encodeUpload(spec, 'parquet', stream(pieces(bytes, 1000)), noProgress);
    expect(outcome).toMatchObject({ kind: 'encoded', rowCount: 500 });
    const { parquet } = outcome as Extract<UploadOutcome, { kind: 'encoded' }>;
    expect(Buffer.from(parquet).equals(encodedAtOnce(file))).toBe(true);
  });

  it('keeps INT64 ids beyond 2^53 exact in a string column, and rounds them in a number column as CSV text is', async () => {
    // 2^53 and 2^53+1 are one double: as numbers they would be one customer.
    const ids = [9007199254740993n, 9007199254740992n, -9007199254740993n, 42n];
    const csv = `age,city,income\n${ids.map((id, i) => `${id},${id},${i % 2 ? '>50K' : '<=50K'}`).join('\n')}\n`;
    const parquetFile = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'age', data: ids, type: 'INT64' },
          { name: 'city', data: ids, type: 'INT64' },
          { name: 'income', data: ids.map((_, i) => (i % 2 ? '>50K' : '<=50K')), type: 'STRING' },
        ],
      }),
    );
    const fromCsv = await encodeUpload(spec, 'csv', stream(pieces(csv, 7)), noProgress);
    const fromParquet = await encodeUpload(spec, 'parquet', stream(pieces(parquetFile, 100)), noProgress);
    const sha256 = (outcome: UploadOutcome) =>
      createHash('sha256')
        .update((outcome as Extract<UploadOutcome, { kind: 'encoded' }>).parquet)
        .digest('hex');
    expect(fromParquet).toMatchObject({ kind: 'encoded', rowCount: 4 });
    expect(sha256(fromParquet)).toBe(sha256(fromCsv));
    const table = await readParquet(Buffer.from((fromParquet as Extract<UploadOutcome, { kind: 'encoded' }>).parquet));
    const values = (name: string) => table.columns.find((column) => column.name === name)?.values;
    expect(values('city')).toEqual(['9007199254740993', '9007199254740992', '-9007199254740993', '42']);
    expect(values('age')).toEqual([2 ** 53, 2 ** 53, -(2 ** 53), 42]);
  });

  it('reads DECIMAL columns as their exact decimal text: ids beyond 2^53 stay apart, 0.57 stays 0.57', async () => {
    // hyparquet alone gives 0.5700000000000001 and one id 90071992547409940 for both rows.
    const csv = 'age,city,income\n0.57,90071992547409930,<=50K\n-1.10,90071992547409931,>50K\n0.05,-5,<=50K\n';
    const parquetFile = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'age', data: [0.57, -1.1, 0.05] }, // the writer stores 57, -110, 5 (scale 2)
          { name: 'city', data: [90071992547409930n, 90071992547409931n, -5n] },
          { name: 'income', data: ['<=50K', '>50K', '<=50K'] },
        ],
        schema: [
          { name: 'root', num_children: 3 },
          {
            name: 'age',
            type: 'INT32',
            converted_type: 'DECIMAL',
            precision: 9,
            scale: 2,
            repetition_type: 'OPTIONAL',
          },
          {
            name: 'city',
            type: 'INT64',
            converted_type: 'DECIMAL',
            precision: 18,
            scale: 0,
            repetition_type: 'OPTIONAL',
          },
          { name: 'income', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        ],
      }),
    );
    const fromCsv = await encodeUpload(spec, 'csv', stream(pieces(csv, 7)), noProgress);
    const fromParquet = await encodeUpload(spec, 'parquet', stream(pieces(parquetFile, 100)), noProgress);
    const sha256 = (outcome: UploadOutcome) =>
      createHash('sha256')
        .update((outcome as Extract<UploadOutcome, { kind: 'encoded' }>).parquet)
        .digest('hex');
    expect(fromParquet).toMatchObject({ kind: 'encoded', rowCount: 3 });
    expect(sha256(fromParquet)).toBe(sha256(fromCsv));
    const table = await readParquet(Buffer.from((fromParquet as Extract<UploadOutcome, { kind: 'encoded' }>).parquet));
    const values = (name: string) => table.columns.find((column) => column.name === name)?.values;
    expect(values('city')).toEqual(['90071992547409930', '90071992547409931', '-5']);
    expect(values('age')).toEqual([0.57, -1.1, 0.05]);
  });

  it('encodes a dataset version Keel wrote (zstd pages) back to the same bytes', async () => {
    const version = encodedAtOnce(file);
    const outcome = await encodeUpload(spec, 'parquet', stream(pieces(version, 1000)), noProgress);
    expect(outcome).toMatchObject({ kind: 'encoded', rowCount: 500 });
    const { parquet } = outcome as Extract<UploadOutcome, { kind: 'encoded' }>;
    expect(Buffer.from(parquet).equals(version)).toBe(true);
  });

  it('says where a JSON Lines or Parquet file is not what it claims', async () => {
    const jsonl = (text: string) => encodeUpload(spec, 'jsonl', stream(pieces(text, 4)), noProgress);
    expect(await jsonl('{"age":1,"income":"x"}\n{"age":2,\n')).toMatchObject({
      kind: 'malformed',
      problem: expect.stringMatching(/^line 2: not JSON/),
    });
    expect(await jsonl('{"age":1,"income":"x"}\n[1,2]\n')).toEqual({
      kind: 'malformed',
      problem: 'line 2: not a JSON object',
    });
    expect(await jsonl('{"age":"old","income":"x"}\n{"age":{"n":1},"income":"x"}')).toMatchObject({
      kind: 'rejected',
      badCount: 2,
      issues: ['line 1: age "old" is not a number', 'line 2: age {"n":1} is not a scalar'],
    });
    expect(await jsonl('\n\n')).toEqual({ kind: 'no-rows', rowsRead: 0 });
    const latin1 = Buffer.from('{"age":1,"income":"x"}\n\n{"age":2,"city":"café","income":"x"}\n', 'latin1');
    expect(await encodeUpload(spec, 'jsonl', stream(pieces(latin1, 4096)), noProgress)).toEqual({
      kind: 'malformed',
      problem: 'line 3: not UTF-8 text',
    });
    const parquet = (bytes: Buffer) => encodeUpload(spec, 'parquet', stream([new Uint8Array(bytes)]), noProgress);
    expect(await parquet(Buffer.from('age,city,income\n1,a,x\n'))).toMatchObject({
      kind: 'malformed',
      problem: expect.stringMatching(/^not a Parquet file/),
    });
    const noIncome = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'age', data: [1], type: 'DOUBLE' },
          { name: 'city', data: ['a'], type: 'STRING' },
        ],
      }),
    );
    expect(await parquet(noIncome)).toEqual({
      kind: 'malformed',
      problem: 'the file lacks columns the spec requires: income',
    });
  });
});

describe('fileUploadTask', () => {
  const pool = new WorkerPool({ threads: 1 });
  afterAll(() => pool.close());

  it('parses a file streamed to a worker thread through a port, to the same Parquet', async () => {
    // given a file sent down a port in 1 KiB pieces
    const { port1, port2 } = new MessageChannel();
    const running = pool.run(fileUploadTask, { spec, format: 'csv', body: port2 }, { transferList: [port2] });
    for (const chunk of pieces(file, 1024))
      port1.postMessage({ chunk } satisfies UploadBodyMessage, [chunk.buffer as ArrayBuffer]);
    port1.postMessage({ end: true } satisfies UploadBodyMessage);
    // when the worker is done
    const outcome = await running;
    port1.close();
    // then it ran on another thread and encoded the whole file as the event loop would have
    const [span] = spans.getFinishedSpans().filter((s) => s.name === 'worker fileUploadTask');
    expect(span.attributes['keel.worker.thread_id']).not.toBe(threadId);
    expect(outcome.kind).toBe('encoded');
    const { parquet } = outcome as Extract<UploadOutcome, { kind: 'encoded' }>;
    expect(Buffer.from(parquet).equals(encodedAtOnce(file))).toBe(true);
  }, 120_000);

  it('stops when the uploader cancels', async () => {
    const { port1, port2 } = new MessageChannel();
    const running = pool.run(fileUploadTask, { spec, format: 'csv', body: port2 }, { transferList: [port2] });
    port1.postMessage({ chunk: new Uint8Array(Buffer.from('age,city,income\n1,a,x\n')) } satisfies UploadBodyMessage);
    port1.postMessage({ cancel: true } satisfies UploadBodyMessage);
    expect(await running).toEqual({ kind: 'cancelled' });
    port1.close();
  }, 120_000);
});

describe('encodeUpload with an object-store source`s declared cleaning', () => {
  const cleaning = SourceCleaning.parse({
    rename: { Age: 'age' },
    trim: ['city'],
    cast: { age: 'integer' },
    missing: { city: { default: 'unknown' } },
    filter: "income != 'test'",
    dedupe: { key: ['id'] },
  });
  const run = (text: string, format: 'csv' | 'jsonl' = 'csv') =>
    encodeUpload(spec, format, stream(pieces(text, 5)), noProgress, cleaning);

  it('cleans every row before its checks: the version holds what the same rows cleaned by hand make', async () => {
    const outcome = await run('id,Age,city,income\n1,30, Lyon ,>50K\n2,40,,<=50K\n1,31,Nice,>50K\n3,50,x,test\n');
    expect(outcome).toMatchObject({ kind: 'encoded', rowCount: 2, rowsRead: 4 });
    const { parquet, dropped } = outcome as Extract<UploadOutcome, { kind: 'encoded' }>;
    expect(dropped).toEqual({ missing: 0, filter: 1, dedupe: 1 });
    // Row 1 gave way to the later row of its id, in that later row's place.
    const expected = encodedAtOnce('age,city,income\n40,unknown,<=50K\n31,Nice,>50K\n');
    expect(Buffer.from(parquet).equals(expected)).toBe(true);
  });

  it('refuses the file (all or nothing) when a cast fails, naming the line and the value', async () => {
    expect(await run('id,Age,city,income\n1,3.5,a,>50K\n')).toEqual({
      kind: 'rejected',
      badCount: 1,
      rowCount: 1,
      issues: ['line 2: cast: age "3.5" is not an integer'],
      dropped: { missing: 0, filter: 0, dedupe: 0 },
    });
  });

  it('requires the file`s own names of the spec`s columns (before rename), not those it defaults', async () => {
    expect(await run('id,age,income\n1,3,>50K\n')).toEqual({
      kind: 'malformed',
      problem: 'line 1: the header lacks columns the spec requires: Age',
    });
  });

  it('says so when the cleaning dropped every row', async () => {
    expect(await run('{"id":1,"Age":3,"income":"test"}\n', 'jsonl')).toEqual({
      kind: 'no-rows',
      rowsRead: 1,
      dropped: { missing: 0, filter: 1, dedupe: 0 },
    });
  });
});
