import { datasetSchema, type PipelineSpecV1 } from '@keel/contracts';
import { tableFromRecords } from '@keel/datasets';
import { parsePipelineSpec } from '@keel/pipelines';
import { types } from 'pg';
import { describe, expect, it } from 'vitest';
import { datasetParquet } from '../datasets/dataset-parquet';
import { checkRecords } from '../records/record-checks';
import { framedCopyData } from './copy-out';
import { copyDataText } from './copy-out';
import { CopyTextStrings, longDecimal, plainDecimal } from './copy-text-values';
import { encodePgChunk, pgChunkWarmUp } from './pg-chunk.task';
import { copyFieldText, type PulledField, pulledValue } from './postgres-reader';

const spec: PipelineSpecV1 = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'pg-rows',
  task: 'regression',
  target: { column: 'y' },
  timeColumn: 'at',
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'color', type: 'categorical' },
    { name: 'flag', type: 'categorical' },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
});

// id int8, at timestamptz, x float8, color text, flag bool, y numeric.
const fields = [
  { name: 'id', typeId: 20 },
  { name: 'at', typeId: 1184 },
  { name: 'x', typeId: 701 },
  { name: 'color', typeId: 25 },
  { name: 'flag', typeId: 16 },
  { name: 'y', typeId: 1700 },
];
const lines = [
  '1\t2026-01-01 00:00:00.123456+00\t1.5\tred\tt\t2.50',
  '2\t2026-01-01 01:00:00+01\t-0.25\ttab\\there\\\\x\tf\t3',
  '3\t2026-01-02 00:00:00+00\t\\N\tline\\nbreak\t\\N\t4.75',
  '4\t2026-01-03 00:00:00+00\tNaN\tblue\tt\t1',
  '5\t2026-01-04 00:00:00+00\t2\tgreen\tf\t\\N',
];

/**
 * What reading the same rows as query results made of them: node-postgres's parser of each field, pulledValue,
 * checkRecords; the version's Parquet and the rejections.
 */
function throughRows(spec: PipelineSpecV1, fields: PulledField[], lines: string[], keyField = 0) {
  const rows = lines.map((line) => {
    const cells = line.split('\t');
    const row: Record<string, unknown> = {};
    fields.forEach((field, i) => {
      const text = copyFieldText(cells[i]);
      row[field.name] =
        text === null ? null : pulledValue((types.getTypeParser(field.typeId, 'text') as (t: string) => unknown)(text));
    });
    return { row, key: copyFieldText(cells[keyField]) };
  });
  const { good, bad } = checkRecords(
    spec,
    rows.map((item) => item.row),
    (index) => `row ${rows[index].key}`,
  );
  const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
  return {
    good,
    rejections: bad.map((item) => item.reason),
    parquet: datasetParquet(spec, tableFromRecords(good, schema)),
  };
}

const encode = (spec: PipelineSpecV1, fields: PulledField[], lines: string[], keyField = 0) =>
  encodePgChunk({
    pipelineId: spec.id,
    schema: datasetSchema(spec),
    fields,
    keyField,
    bytes: framedCopyData(lines),
    maxRejections: 1_000,
  });

describe('encodePgChunk', () => {
  it('makes of COPY text the version that reading the rows as query results made, and the same rejections', () => {
    const outcome = encode(spec, fields, lines);
    const expected = throughRows(spec, fields, lines);
    expect(outcome).toMatchObject({ rowsRead: 5, goodRows: 3, rejected: 2 });
    expect(outcome.rejections).toEqual(expected.rejections);
    expect(outcome.rejections).toEqual(['row 4: x NaN is not a finite number', 'row 5: y is missing (target)']);
    expect(Buffer.from(outcome.parquet).equals(expected.parquet)).toBe(true);
    expect(expected.good.map((record) => [record.at, record.color, record.flag])).toEqual([
      ['2026-01-01T00:00:00.123Z', 'red', 'true'],
      ['2026-01-01T00:00:00.000Z', 'tab\there\\x', 'false'],
      ['2026-01-02T00:00:00.000Z', 'line\nbreak', null],
    ]);
  });

  it('gives what the general path gives for every kind of number and text, fast path or not', () => {
    // given number columns of each numeric type and text columns of each text type, with values on both paths
    const wide = parsePipelineSpec({
      apiVersion: 'keel/v1',
      kind: 'Pipeline',
      id: 'pg-wide',
      task: 'regression',
      target: { column: 'y' },
      features: [
        { name: 'i2', type: 'numeric' },
        { name: 'i4', type: 'numeric' },
        { name: 'i8', type: 'numeric' },
        { name: 'f4', type: 'numeric' },
        { name: 'f8', type: 'numeric' },
        { name: 'num', type: 'numeric' },
        { name: 'txt', type: 'categorical' },
        { name: 'vc', type: 'categorical' },
        { name: 'bp', type: 'categorical' },
        { name: 'asText', type: 'numeric' },
      ],
      training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
    });
    const wideFields = [
      { name: 'key', typeId: 25 },
      ...[21, 23, 20, 700, 701, 1700].map((typeId, i) => ({ name: ['i2', 'i4', 'i8', 'f4', 'f8', 'num'][i], typeId })),
      { name: 'txt', typeId: 25 },
      { name: 'vc', typeId: 1043 },
      { name: 'bp', typeId: 1042 },
      { name: 'asText', typeId: 25 },
      { name: 'y', typeId: 701 },
      { name: 'unused', typeId: 25 },
    ];
    const numbers = [
      '0',
      '-0',
      '7',
      '-12',
      '1.5',
      '-0.25',
      '0.1',
      '0.3',
      '123456789012345',
      '1234567890123456',
      '99999999999999999',
      '3.141592653589793',
      '142.857142857142857',
      '142.85714285714286',
      '0.14285714285714285',
      '0.30000000000000004',
      '4503599627370497.5',
      '-12345678.901234567',
      '\u00a05',
      '5\u00e9',
      '1e+20',
      '1.5e-07',
      'NaN',
      'Infinity',
      '-Infinity',
      '\\N',
      '',
      '.5',
      '5.',
      '00012.50',
      '-0.000000000000001',
      '9007199254740993',
      '1.7976931348623157e+308',
      ' 3',
      '1 ',
      'x',
    ];
    const texts = ['red', '', ' lead', 'tab\\there', '\\N', 'é', 'back\\\\slash', 'x'.repeat(5_000), '~', '\u00a0nbsp'];
    let seed = 7;
    const pick = <T>(values: T[]) => values[(seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % values.length];
    const rows = Array.from({ length: 600 }, (_, i) =>
      [
        String(i),
        ...[0, 1, 2, 3, 4, 5].map(() => pick(numbers)),
        pick(texts),
        pick(texts),
        pick(texts),
        pick(numbers),
        // Most rows good: y is mostly a plain decimal.
        i % 5 === 0 ? pick(numbers) : String(i / 4),
        'ignored',
      ].join('\t'),
    );
    // when encoded both ways, then the same rows pass and fail, for the same reasons, into the same bytes
    const outcome = encode(wide, wideFields, rows);
    const expected = throughRows(wide, wideFields, rows);
    expect(outcome.rejections).toEqual(expected.rejections);
    expect(outcome.goodRows).toBe(expected.good.length);
    expect(outcome.goodRows).toBeGreaterThan(0);
    expect(outcome.rejected).toBeGreaterThan(0);
    expect(Buffer.from(outcome.parquet).equals(expected.parquet)).toBe(true);
  });
});

describe('encodePgChunk on bytes that are not valid UTF-8', () => {
  it('gives what decoding the whole text and slicing it gave', () => {
    // given text fields holding a truncated sequence before a tab, a stray continuation byte and a bad lead byte
    const bad = [
      [0x31, 0x09, 0x32, 0x09, 0x31, 0x2e, 0x35, 0x09, 0x72, 0xc3, 0x09, 0x74, 0x09, 0x33],
      [0x32, 0x09, 0x32, 0x09, 0x80, 0x35, 0x09, 0x62, 0x80, 0x6c, 0x09, 0x66, 0x09, 0x34],
      [0x33, 0x09, 0x32, 0x09, 0x37, 0x09, 0xff, 0x61, 0xe2, 0x82, 0x09, 0x74, 0x09, 0x35],
    ];
    const bytes = Buffer.concat(
      bad.map((line) => {
        const message = Buffer.alloc(6 + line.length);
        message[0] = 0x64;
        message.writeUInt32BE(line.length + 5, 1);
        Buffer.from(line).copy(message, 5);
        message[message.length - 1] = 0x0a;
        return message;
      }),
    );
    const badFields = [fields[0], { name: 'at', typeId: 25 }, fields[2], fields[3], fields[4], fields[5]];
    const lines = copyDataText(Buffer.from(bytes))
      .text.split('\n')
      .filter((line) => line.length > 0)
      .map((line) => line.slice(5));
    const lenient = parsePipelineSpec({ ...spec, timeColumn: undefined });
    const expected = throughRows(lenient, badFields, lines);
    const outcome = encodePgChunk({
      pipelineId: lenient.id,
      schema: datasetSchema(lenient),
      fields: badFields,
      keyField: 0,
      bytes,
      maxRejections: 10,
    });
    expect(outcome.rejections).toEqual(expected.rejections);
    expect(outcome.goodRows).toBe(expected.good.length);
    expect(outcome.goodRows).toBeGreaterThan(0);
    expect(Buffer.from(outcome.parquet).equals(expected.parquet)).toBe(true);
  });

  it('refuses a chunk whose messages are not one row each', () => {
    const framed = framedCopyData(lines);
    const input = { pipelineId: spec.id, schema: datasetSchema(spec), fields, keyField: 0, maxRejections: 1 };
    expect(() => encodePgChunk({ ...input, bytes: framed.subarray(0, framed.length - 3) })).toThrow('is not one row');
    expect(() => encodePgChunk({ ...input, bytes: Buffer.concat([framed, Buffer.from('N\0\0\0\x05x')]) })).toThrow(
      'no CopyData message',
    );
  });
});

describe('longDecimal', () => {
  const read = (text: string) => longDecimal(Buffer.from(text), 0, Buffer.byteLength(text));

  it('reads decimals of up to 17 significant digits exactly as parseFloat does, or declines', () => {
    let seed = 5;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let declined = 0;
    const texts: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      let digits = '';
      for (let d = 0; d < 16 + (i % 2); d++) digits += Math.floor(random() * 10);
      const dot = Math.floor(random() * digits.length);
      texts.push(
        String(random() * 10 ** Math.floor(random() * 15)),
        String(Math.floor(random() * 1_000) / Math.floor(1 + random() * 97)),
        `${i % 2 ? '-' : ''}${dot ? `${digits.slice(0, dot)}.${digits.slice(dot)}` : digits}`,
        `0.${'0'.repeat(i % 4)}${digits}`,
        // Halfway between two doubles: odd integers past 2^53, halves past 2^52 (ties parseFloat rounds to even).
        String(2 ** 53 + 1 + 2 * Math.floor(random() * 2 ** 40)),
        `${2 ** 52 + Math.floor(random() * 2 ** 40)}.5`,
      );
    }
    for (const text of texts) {
      if (text.includes('e')) continue;
      const value = read(text);
      if (Number.isNaN(value)) declined++;
      else expect(Object.is(value, parseFloat(text)), text).toBe(true);
    }
    // Only the ties (and nothing PostgreSQL prints for a double otherwise) go to parseFloat.
    expect(declined).toBeLessThan(texts.length / 3);
    expect(read('9007199254740993')).toBeNaN();
    expect(read('4503599627370497.5')).toBeNaN();
    expect(read('0.14285714285714285')).toBe(1 / 7);
    expect(read('0.30000000000000004')).toBe(0.1 + 0.2);
    expect(Object.is(read('-0.0000000000000000000'), -0)).toBe(true);
    for (const text of [
      '',
      '-',
      '1e5',
      'NaN',
      '123456789012345678',
      '.5',
      '5.',
      '1.2.3',
      '+1',
      ' 1',
      '\\N',
      '0.' + '1'.repeat(23),
    ])
      expect(read(text), text).toBeNaN();
  });
});

describe('CopyTextStrings', () => {
  it('gives what UTF-8 decoding the bytes gives, the same string again for the same short value', () => {
    const strings = new CopyTextStrings();
    const values = ['red', 'green', 'red', '', 'é', 'x'.repeat(40), 'a\u00a0b', 'green', 'grey', 'gre'];
    const bytes = Buffer.from(values.join('\t'));
    let at = 0;
    const seen = values.map((value) => {
      const end = at + Buffer.byteLength(value);
      const text = strings.text(bytes, at, end);
      at = end + 1;
      expect(text).toBe(value);
      return text;
    });
    expect(seen[2]).toBe(seen[0]);
    // Many distinct values share the table's slots: each still reads as itself.
    for (let i = 0; i < 20_000; i++) {
      const value = Buffer.from(`v${i % 7_919}`);
      expect(strings.text(value, 0, value.length)).toBe(`v${i % 7_919}`);
    }
  });
});

describe('plainDecimal', () => {
  it('reads plain decimals exactly as parseFloat does, and declines everything else', () => {
    for (const text of ['0', '-0', '1.5', '-0.25', '0.1', '2.675', '123456789012345', '0.00000000000001', '-9.5']) {
      expect(Object.is(plainDecimal(Buffer.from(text), 0, text.length), parseFloat(text))).toBe(true);
    }
    for (const text of ['', '-', '1e5', 'NaN', '1234567890123456', '.5', '5.', '1.2.3', '+1', ' 1', '\\N']) {
      expect(plainDecimal(Buffer.from(text), 0, text.length)).toBeNaN();
    }
    let seed = 11;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      const digits = String(seed % 10 ** (1 + (i % 15))).padStart(1 + (i % 15), '0');
      const dot = i % (digits.length + 1);
      const text = `${i % 2 ? '-' : ''}${dot ? `${digits.slice(0, dot)}.${digits.slice(dot)}` : digits}`;
      const expected = text.endsWith('.') ? NaN : parseFloat(text);
      expect(Object.is(plainDecimal(Buffer.from(text), 0, text.length), expected)).toBe(true);
    }
  });
});

describe('pgChunkWarmUp', () => {
  it('is a chunk every row of which passes, through each way a value is read', () => {
    const input = pgChunkWarmUp();
    const outcome = encodePgChunk(input);
    expect(outcome).toMatchObject({ rowsRead: 5_000, goodRows: 5_000, rejected: 0 });
  });
});
