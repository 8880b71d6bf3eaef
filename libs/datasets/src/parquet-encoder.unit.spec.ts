import { createHash } from 'node:crypto';
import { brotliCompressSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { type ColumnType } from '@keel/contracts';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { parquetDecompressors, readParquet, writeParquet } from './parquet';
import { encoderScratchBytes, encodeParquet, type PageCodec, UNCOMPRESSED } from './parquet-encoder';
import { type DatasetTable } from './table';

type Cell = number | string | boolean | null;

function table(columns: { name: string; type: ColumnType; values: Cell[] }[]): DatasetTable {
  return { rowCount: columns[0]?.values.length ?? 0, columns };
}

/** Same values, -0 and NaN told apart from 0 and each other (toEqual would not). */
function expectSameValues(actual: readonly Cell[], expected: readonly Cell[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      throw new Error(`value ${i}: got ${String(actual[i])}, expected ${String(expected[i])}`);
    }
  }
}

async function expectRoundTrip(written: DatasetTable): Promise<void> {
  const read = await readParquet(writeParquet(written));
  expect(read.rowCount).toBe(written.rowCount);
  expect(read.columns.map(({ name, type }) => ({ name, type }))).toEqual(
    written.columns.map(({ name, type }) => ({ name, type })),
  );
  written.columns.forEach((column, c) => expectSameValues(read.columns[c].values, column.values));
}

/** A deterministic pseudo-random sequence, so that failures reproduce. */
function* sequence(seed: number): Generator<number> {
  let state = seed;
  for (;;) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    yield state / 2 ** 32;
  }
}

describe('the Parquet encoder', () => {
  it('round-trips every column type with nulls, through PLAIN and dictionary pages', async () => {
    const n = 1_000;
    const random = sequence(7);
    const pick = () => random.next().value as number;
    await expectRoundTrip(
      table([
        // High cardinality: PLAIN pages.
        { name: 'unique_number', type: 'number', values: Array.from({ length: n }, (_, i) => i * 1.25 - 300) },
        {
          name: 'unique_string',
          type: 'string',
          values: Array.from({ length: n }, (_, i) => (i % 10 === 3 ? null : `row-${i}-${'x'.repeat(i % 7)}`)),
        },
        // Low cardinality: dictionary pages.
        {
          name: 'category',
          type: 'string',
          values: Array.from({ length: n }, () => [null, 'red', 'green', 'blue', ''][Math.floor(pick() * 5)]),
        },
        { name: 'small_int', type: 'integer', values: Array.from({ length: n }, () => Math.floor(pick() * 6)) },
        {
          name: 'rare_null',
          type: 'number',
          values: Array.from({ length: n }, (_, i) => (i === 517 ? null : i % 3)),
        },
        {
          name: 'flag',
          type: 'boolean',
          values: Array.from({ length: n }, () => [true, false, null][Math.floor(pick() * 3)]),
        },
        {
          name: 'at',
          type: 'timestamp',
          values: Array.from({ length: n }, (_, i) =>
            i % 11 === 0 ? null : new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString().slice(0, 19),
          ),
        },
      ]),
    );
  });

  it('round-trips unicode, empty strings, NaN, -0, infinities and extreme doubles as they are', async () => {
    const strings = [
      '',
      'é',
      'ß-straße',
      '日本語',
      '😀 emoji',
      'a\u0000b',
      'tab\tnew\nline',
      '\u{10ffff}',
      'ü'.repeat(100),
    ];
    const numbers = [NaN, -0, 0, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, -1e-300, 2 ** 53 + 2];
    await expectRoundTrip(
      table([
        { name: 'text', type: 'string', values: strings },
        { name: 'number', type: 'number', values: numbers },
      ]),
    );
    // The same in dictionary pages: each value repeated.
    await expectRoundTrip(
      table([
        { name: 'text', type: 'string', values: Array.from({ length: 400 }, (_, i) => strings[i % strings.length]) },
        { name: 'number', type: 'number', values: Array.from({ length: 400 }, (_, i) => numbers[i % numbers.length]) },
      ]),
    );
  });

  it('writes a lone surrogate as U+FFFD, as TextEncoder does', async () => {
    const read = await readParquet(
      writeParquet(table([{ name: 's', type: 'string', values: ['a\ud800b', '\udc00'] }])),
    );
    expect(read.columns[0].values).toEqual(['a\ufffdb', '\ufffd']);
  });

  it('encodes definition levels and dictionary indexes in every run shape', async () => {
    // Runs of nulls and values of lengths around the hybrid's blocks of eight, and wide dictionary indexes (300
    // entries: 9 bits, two bytes a repeated value), including long runs of one index.
    const values: Cell[] = [];
    const runs = [1, 7, 8, 9, 15, 16, 17, 3, 64, 2, 1, 1, 130];
    runs.forEach((length, r) => {
      for (let i = 0; i < length; i++) values.push(r % 2 === 0 ? null : `v${(r * 37 + i) % 300}`);
    });
    for (let i = 0; i < 3_000; i++) values.push(`v${Math.floor(i / 40) % 300}`);
    for (let i = 0; i < 3_000; i++) values.push(`v${(i * 7) % 300}`);
    for (let total = values.length; total < 6_403; total++) values.push(null);
    const numbers = values.map((v, i) => (v === null ? null : i % 300));
    await expectRoundTrip(
      table([
        { name: 's', type: 'string', values },
        { name: 'n', type: 'number', values: numbers },
        { name: 'b', type: 'boolean', values: values.map((v, i) => (v === null ? null : i % 3 === 0)) },
      ]),
    );
    for (let length = 0; length <= 20; length++) {
      await expectRoundTrip(
        table([
          {
            name: 'maybe',
            type: 'integer',
            values: Array.from({ length: 40 }, (_, i) => (i >= 10 && i < 10 + length ? null : i % 2)),
          },
        ]),
      );
    }
  });

  it('round-trips all-null columns, a single row and an empty table', async () => {
    await expectRoundTrip(
      table([
        { name: 'n', type: 'number', values: [null, null, null] },
        { name: 's', type: 'string', values: [null, null, null] },
        { name: 'b', type: 'boolean', values: [null, null, null] },
      ]),
    );
    await expectRoundTrip(table([{ name: 'only', type: 'string', values: ['one'] }]));
    const empty = await readParquet(
      writeParquet({ rowCount: 0, columns: [{ name: 'x', type: 'number', values: [] }] }),
    );
    expect(empty).toEqual({ rowCount: 0, columns: [{ name: 'x', type: 'number', values: [] }] });
  });

  it('splits rows into row groups that readers put back in order', async () => {
    const values = Array.from({ length: 2_500 }, (_, i) => (i % 5 === 0 ? null : `g${i % 17}`));
    const bytes = encodeParquet(table([{ name: 's', type: 'string', values }]), [], UNCOMPRESSED, 1_000);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    expect(parquetMetadata(file).row_groups.map((group) => Number(group.num_rows))).toEqual([1_000, 1_000, 500]);
    const rows = (await parquetReadObjects({ file })) as { s: string | null }[];
    expect(rows.map((row) => row.s)).toEqual(values);
  });

  it('splits data pages at about pageBytes of values, which readers put back in order', async () => {
    const n = 3_000;
    const random = sequence(11);
    const pick = () => random.next().value as number;
    const written = table([
      { name: 'n', type: 'number', values: Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : i / 3)) },
      { name: 'd', type: 'integer', values: Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : i % 5)) },
      { name: 's', type: 'string', values: Array.from({ length: n }, (_, i) => (i % 9 === 0 ? null : `s${i}é`)) },
      {
        name: 'c',
        type: 'string',
        values: Array.from({ length: n }, () => [null, 'a', 'bb', 'ccc'][Math.floor(pick() * 4)]),
      },
      {
        name: 'b',
        type: 'boolean',
        values: Array.from({ length: n }, () => [null, true, false][Math.floor(pick() * 3)]),
      },
    ]);
    const kv = [
      { key: 'keel.column_types', value: '{"n":"number","d":"integer","s":"string","c":"string","b":"boolean"}' },
    ];
    const paged = encodeParquet(written, kv, UNCOMPRESSED, 1_000_000, 100);
    // Many pages: each adds a page header and its own levels.
    expect(paged.length).toBeGreaterThan(encodeParquet(written, kv, UNCOMPRESSED).length + 1_000);
    const read = await readParquet(paged);
    written.columns.forEach((column, c) => expectSameValues(read.columns[c].values, column.values));
  });

  it('lets go of scratch past 16 MiB after a large table', () => {
    writeParquet(table([{ name: 's', type: 'string', values: ['x'.repeat(20 * 1024 * 1024)] }]));
    expect(encoderScratchBytes()).toBeLessThanOrEqual(16 * 1024 * 1024);
  });

  it('refuses a column name that is not valid UTF-16 (a lone surrogate)', () => {
    expect(() => writeParquet(table([{ name: 'a\ud800', type: 'number', values: [1] }]))).toThrow(/not valid UTF-16/);
  });

  it('inflates a page at most to the size its header claims (no decompression bombs)', async () => {
    // A codec that lies: the header claims the real page's size, the compressed bytes hold 64 MiB more.
    const bomb = (compress: (input: Buffer) => Buffer, id: number): PageCodec => ({
      id,
      compress: (body) => compress(Buffer.concat([body, Buffer.alloc(64 * 1024 * 1024)])),
    });
    const written = table([{ name: 'x', type: 'number', values: [1, 2, 3] }]);
    for (const codec of [bomb(zstdCompressSync, 6), bomb(gzipSync, 2), bomb(brotliCompressSync, 4)]) {
      await expect(readParquet(encodeParquet(written, [], codec))).rejects.toThrow(
        /Cannot create a Buffer larger than|ERR_BUFFER_TOO_LARGE|larger than/,
      );
    }
    // Pages of the size they claim decode, the empty one included.
    const exact = zstdCompressSync(Buffer.from('hello'));
    expect(Buffer.from(parquetDecompressors.ZSTD?.(exact, 5) ?? []).toString()).toBe('hello');
    expect(parquetDecompressors.ZSTD?.(zstdCompressSync(Buffer.alloc(0)), 0).length).toBe(0);
  });

  it('writes the same bytes for the same table and metadata, and different bytes for other metadata', () => {
    const random = sequence(3);
    const written = table([
      { name: 'x', type: 'number', values: Array.from({ length: 5_000 }, () => random.next().value as number) },
      { name: 'c', type: 'string', values: Array.from({ length: 5_000 }, (_, i) => ['a', 'b', null][i % 3]) },
    ]);
    const bytes = writeParquet(written, { 'keel.pipeline_id': 'p' });
    expect(bytes.equals(writeParquet(structuredClone(written), { 'keel.pipeline_id': 'p' }))).toBe(true);
    expect(bytes.equals(writeParquet(written, { 'keel.pipeline_id': 'q' }))).toBe(false);
  });

  it('keeps the bytes of a known table (versions are addressed by their sha256: change this knowingly)', () => {
    const known = table([
      { name: 'age', type: 'integer', values: [39, 50, 38, null, 39, 39, 50, 38, 39, 50, 38, 39, 50, 38, 39, 50, 38] },
      {
        name: 'w',
        type: 'string',
        values: [
          'State-gov',
          null,
          'Private',
          'Private',
          'é',
          '',
          'Private',
          'State-gov',
          'Private',
          'Private',
          'State-gov',
          'Private',
          'Private',
          'State-gov',
          'Private',
          'Private',
          'x',
        ],
      },
      {
        name: 'ok',
        type: 'boolean',
        values: [
          true,
          false,
          null,
          true,
          true,
          false,
          true,
          false,
          null,
          true,
          true,
          false,
          true,
          false,
          null,
          true,
          true,
        ],
      },
      {
        name: 'at',
        type: 'timestamp',
        values: Array.from({ length: 17 }, (_, i) => `2011-01-01T${String(i).padStart(2, '0')}:00:00`),
      },
      { name: 'temp', type: 'number', values: Array.from({ length: 17 }, (_, i) => i * 0.01 + 0.2) },
    ]);
    const sha256 = createHash('sha256')
      .update(writeParquet(known, { 'keel.pipeline_id': 'adult' }))
      .digest('hex');
    expect(sha256).toBe('cc1ba0890c9803f8634f8e9a51fab119de0285c16945a6c1301e4497e5d617c9');
  });

  it('refuses a value of another type than its column, naming the column', () => {
    expect(() => writeParquet(table([{ name: 'n', type: 'number', values: [1, '2'] }]))).toThrow(/column "n"/);
    expect(() => writeParquet(table([{ name: 's', type: 'string', values: ['a', 2] }]))).toThrow(/column "s"/);
    expect(() => writeParquet(table([{ name: 'b', type: 'boolean', values: [true, 1] }]))).toThrow(/column "b"/);
    // The same through a dictionary trial.
    const mixed = Array.from({ length: 100 }, (_, i): Cell => (i === 90 ? 'x' : i % 2));
    expect(() => writeParquet(table([{ name: 'n', type: 'number', values: mixed }]))).toThrow(/column "n"/);
    expect(() => writeParquet({ rowCount: 2, columns: [{ name: 'short', type: 'number', values: [1] }] })).toThrow(
      /column "short" has 1 values for 2 rows/,
    );
  });

  it('reads versions written before it (hyparquet-writer 0.17, snappy)', async () => {
    const written = table([
      { name: 'age', type: 'integer', values: [39, 50, null] },
      { name: 'w', type: 'string', values: ['State-gov', null, 'é'] },
      { name: 'ok', type: 'boolean', values: [true, null, false] },
      { name: 'at', type: 'timestamp', values: ['2011-01-01T00:00:00', null, '2011-01-01T02:00:00'] },
    ]);
    // The call writeParquet made until this encoder.
    const types = { number: 'DOUBLE', integer: 'DOUBLE', string: 'STRING', boolean: 'BOOLEAN', timestamp: 'STRING' };
    const old = parquetWriteBuffer({
      columnData: written.columns.map((c) => ({ name: c.name, data: c.values, type: types[c.type] as 'DOUBLE' })),
      statistics: false,
      kvMetadata: [
        {
          key: 'keel.column_types',
          value: JSON.stringify(Object.fromEntries(written.columns.map((c) => [c.name, c.type]))),
        },
      ],
    });
    expect(await readParquet(Buffer.from(old))).toEqual(written);
  });
});
