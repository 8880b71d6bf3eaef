import { datasetSchema, type PipelineSpecV1 } from '@keel/contracts';
import { parsePipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { checkRecords } from './record-checks';

const spec: PipelineSpecV1 = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'unit-pipeline',
  task: 'binary-classification',
  target: { column: 'income', positive: '>50K' },
  protectedAttributes: ['sex', 'race'],
  timeColumn: 'ts',
  features: [
    { name: 'age', type: 'numeric', nullable: false },
    { name: 'hours', type: 'numeric' },
    { name: 'sex', type: 'categorical' },
  ],
  training: { algorithms: ['gbdt'], primaryMetric: 'auc' },
});

const good = { age: 39, hours: '40', sex: 'Male', race: 'White', income: '<=50K', ts: '2026-01-01T00:00:00Z' };

describe('datasetSchema', () => {
  it('types features, target, time column and extra protected attributes, with their roles', () => {
    expect(datasetSchema(spec)).toEqual([
      { name: 'age', type: 'number', role: 'numeric', nullable: false },
      { name: 'hours', type: 'number', role: 'numeric', nullable: true },
      { name: 'sex', type: 'string', role: 'categorical', nullable: true },
      { name: 'income', type: 'string', role: 'target', nullable: false },
      { name: 'ts', type: 'timestamp', role: 'time', nullable: false },
      { name: 'race', type: 'string', role: 'attribute', nullable: true },
    ]);
  });

  it('types a regression target as a number', () => {
    const regression = { ...spec, task: 'regression' as const };
    expect(datasetSchema(regression).find((c) => c.name === 'income')?.type).toBe('number');
  });
});

describe('checkRecords', () => {
  it('keeps good records, converting numeric strings and dropping undeclared columns', () => {
    // given a record with a numeric string and an extra column
    const { good: clean, bad } = checkRecords(spec, [{ ...good, extra: 'x' }]);
    // then it is kept with numbers as numbers and only the dataset columns
    expect(bad).toEqual([]);
    expect(clean).toEqual([
      { age: 39, hours: 40, sex: 'Male', income: '<=50K', ts: '2026-01-01T00:00:00Z', race: 'White' },
    ]);
  });

  it('accepts missing nullable values and stringifies categorical scalars', () => {
    const { good: clean } = checkRecords(spec, [{ ...good, hours: null, sex: true, race: undefined }]);
    expect(clean[0]).toMatchObject({ hours: null, sex: 'true', race: null });
  });

  it('reports each bad record with its index, column and problem, and keeps the good ones', () => {
    // given a batch with good and bad records
    const records = [
      good,
      { ...good, age: 'forty' },
      { ...good, income: null },
      { ...good, age: undefined },
      { ...good, hours: '0x10' },
      { ...good, ts: 'yesterday-ish' },
      { ...good, ts: undefined },
      good,
    ];
    // when checked
    const { good: clean, bad } = checkRecords(spec, records);
    // then the good ones pass and every bad one says why
    expect(clean).toHaveLength(2);
    expect(bad.map((b) => b.reason)).toEqual([
      'record 1: age "forty" is not a number',
      'record 2: income is missing (target)',
      'record 3: age is missing',
      'record 4: hours "0x10" is not a number',
      'record 5: ts "yesterday-ish" is not a timestamp',
      'record 6: ts is missing (time column)',
    ]);
    expect(bad[0]).toMatchObject({ index: 1, record: records[1] });
  });

  it('rejects non-scalar values and booleans in numeric columns, and labels lines when asked', () => {
    const { bad } = checkRecords(
      spec,
      [
        { ...good, sex: { a: 1 } },
        { ...good, hours: true },
      ],
      (i) => `line ${i + 2}`,
    );
    expect(bad.map((b) => b.reason)).toEqual([
      'line 2: sex {"a":1} is not a scalar',
      'line 3: hours true is not a number',
    ]);
  });
});
