import { describe, expect, it } from 'vitest';
import { readParquet, writeParquet } from './parquet';
import { tableFromRecords } from './table';

describe('Parquet dataset files', () => {
  const schema = [
    { name: 'age', type: 'integer' as const },
    { name: 'workclass', type: 'string' as const },
    { name: 'temp', type: 'number' as const },
    { name: 'timestamp', type: 'timestamp' as const },
  ];
  const table = tableFromRecords(
    [
      { age: 39, workclass: 'State-gov', temp: 0.24, timestamp: '2011-01-01T00:00:00' },
      { age: 50, workclass: null, temp: 0.22, timestamp: '2011-01-01T01:00:00' },
      { age: 38 },
    ],
    schema,
  );

  it('round-trips values, nulls and logical types', async () => {
    const read = await readParquet(writeParquet(table));
    expect(read).toEqual(table);
  });

  it('writes identical bytes for identical tables (content addressing relies on it)', () => {
    expect(writeParquet(table).equals(writeParquet(structuredClone(table)))).toBe(true);
  });
});
