import { describe, expect, it } from 'vitest';
import { incrementsToLoad, recencyWeights, resolveWindow, rowKey, snapshotTable, timeValueMs } from './snapshot';
import { type DatasetTable } from './table';

/** A dataset version of `times.length` rows with an `x` column and a time column. */
function increment(sequence: number, times: string[]) {
  const sha256 = String(sequence).repeat(64).slice(0, 64);
  const table: DatasetTable = {
    rowCount: times.length,
    columns: [
      { name: 'x', type: 'number', values: times.map((_, i) => sequence * 100 + i) },
      { name: 'ts', type: 'timestamp', values: times },
    ],
  };
  return {
    datasetVersionId: `ds-${sha256.slice(0, 32)}`,
    sha256,
    uri: 's3://keel-datasets/x',
    sequence,
    rowCount: times.length,
    table,
  };
}

const v1 = increment(1, ['2024-01-01T00:00:00', '2024-01-02T00:00:00', '2024-01-03T00:00:00']);
const v2 = increment(2, ['2024-01-04T00:00:00', '2024-01-05T00:00:00']);
const v3 = increment(3, ['2024-01-06T00:00:00', '2024-01-07T00:00:00', '2024-01-08T00:00:00']);

describe('training windows', () => {
  it('given all data, then every row of every version, oldest first, up to the newest version', () => {
    const manifest = resolveWindow({ pipelineId: 'p', window: { type: 'all' }, increments: [v3, v1, v2] });
    expect(manifest.upTo).toEqual({ datasetVersionId: v3.datasetVersionId, sequence: 3 });
    expect(manifest.increments.map((inc) => [inc.sequence, inc.rows])).toEqual([
      [1, [[0, 3]]],
      [2, [[0, 2]]],
      [3, [[0, 3]]],
    ]);
    expect(manifest.rowCount).toBe(8);
  });

  it('given the last 4 rows, then the newest rows, reaching into the version before', () => {
    const window = { type: 'rows' as const, rows: 4 };
    expect(incrementsToLoad(window, [v1, v2, v3]).map((inc) => inc.sequence)).toEqual([2, 3]);
    const manifest = resolveWindow({ pipelineId: 'p', window, increments: [v2, v3] });
    expect(manifest.increments.map((inc) => [inc.sequence, inc.rows])).toEqual([
      [2, [[1, 2]]],
      [3, [[0, 3]]],
    ]);
  });

  it('given the last 3 days of the time column, then rows within 3 days of the newest time, inclusive', () => {
    const manifest = resolveWindow({
      pipelineId: 'p',
      window: { type: 'duration', duration: '3d' },
      timeColumn: 'ts',
      increments: [v1, v2, v3],
    });
    expect(manifest.increments.map((inc) => [inc.sequence, inc.rows])).toEqual([
      [2, [[1, 2]]],
      [3, [[0, 3]]],
    ]);
    expect(manifest.rowCount).toBe(4);
  });

  it('given a manifest, then its table holds exactly those rows with their stable keys', () => {
    const manifest = resolveWindow({ pipelineId: 'p', window: { type: 'rows', rows: 4 }, increments: [v2, v3] });
    const tables = new Map([v2, v3].map((inc) => [inc.sha256, inc.table]));
    const table = snapshotTable(manifest, tables, ['x'], '_row_key');
    expect(table.columns[0].values).toEqual([201, 300, 301, 302]);
    expect(table.columns[1].values).toEqual([rowKey([201]), rowKey([300]), rowKey([301]), rowKey([302])]);
  });

  it('gives distinct rows distinct, stable 52-bit keys, and equal rows equal keys', () => {
    const keys = new Set<number>();
    for (let i = 0; i < 3_000; i++) keys.add(rowKey([i % 10, `c${Math.floor(i / 10)}`, i % 7 === 0 ? null : 1.5]));
    expect(keys.size).toBe(3_000);
    for (const key of keys) expect(Number.isSafeInteger(key) && key >= 0).toBe(true);
    expect(rowKey([7, 'a', null])).toBe(rowKey([7, 'a', null]));
    // types and positions count: 1 is not "1", and [1, 2] is not [2, 1]
    expect(rowKey([1])).not.toBe(rowKey(['1']));
    expect(rowKey([1, 2])).not.toBe(rowKey([2, 1]));
  });

  it('weighs a row one half-life older than the newest by one half', () => {
    expect(recencyWeights({ halfLifeRows: 2 }, 3)).toEqual([0.5, 0.5 ** 0.5, 1]);
    const byTime = recencyWeights({ halfLife: '1d' }, 3, ['2024-01-01T00:00:00', '2024-01-02T00:00:00', null]);
    expect(byTime).toEqual([0.5, 1, 0.5]);
  });

  it('reads times without a zone as UTC', () => {
    expect(timeValueMs('2024-01-01T00:00:00')).toBe(Date.UTC(2024, 0, 1));
    expect(timeValueMs('2024-01-01T00:00:00+01:00')).toBe(Date.UTC(2023, 11, 31, 23));
  });

  it('reads the space form as UTC too, whatever the process time zone, and short offsets', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      expect(timeValueMs('2024-01-01 11:00:00')).toBe(Date.UTC(2024, 0, 1, 11));
      expect(timeValueMs('2024-01-01 11:00:00.250')).toBe(Date.UTC(2024, 0, 1, 11, 0, 0, 250));
      expect(timeValueMs('2024-01-01T11:00:00')).toBe(Date.UTC(2024, 0, 1, 11));
      expect(timeValueMs('2024-01-01 11:00:00+00')).toBe(Date.UTC(2024, 0, 1, 11));
      expect(timeValueMs('2024-01-01 11:00:00+0100')).toBe(Date.UTC(2024, 0, 1, 10));
      expect(timeValueMs('2024-01-01 11:00:00-02:30')).toBe(Date.UTC(2024, 0, 1, 13, 30));
      expect(timeValueMs('2024-01-01 11:00:00Z')).toBe(Date.UTC(2024, 0, 1, 11));
      expect(timeValueMs('2024-01-01')).toBe(Date.UTC(2024, 0, 1));
      expect(timeValueMs('not a time')).toBeNaN();
      // Text ingestion stored before it checked the grammar is read as Date.parse read it then.
      expect(timeValueMs('2024/01/02 03:04:05 GMT')).toBe(Date.UTC(2024, 0, 2, 3, 4, 5));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
  it('reads zoneless text the grammar refuses (24:00, rolled-over days) as UTC, as before, under any time zone', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(timeValueMs('2024-01-01T24:00:00')).toBe(Date.UTC(2024, 0, 2));
      expect(timeValueMs('2024-01-01 24:00:00')).toBe(Date.UTC(2024, 0, 2));
      expect(timeValueMs('2023-02-29T10:00:00')).toBe(Date.UTC(2023, 2, 1, 10));
      expect(timeValueMs('2024-04-31 10:00')).toBe(Date.UTC(2024, 4, 1, 10));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});
