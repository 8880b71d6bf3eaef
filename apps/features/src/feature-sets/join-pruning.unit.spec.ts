import {
  type DatasetTable,
  featureTableOf,
  pointInTimeJoin,
  type PointInTimeJoin,
  readParquet,
  writeParquet,
} from '@keel/datasets';
import { describe, expect, it } from 'vitest';
import {
  churnJoin,
  churnRows,
  churnSpec,
  customerTableRows,
  incrementOf,
  pointInTimeFixture as fixture,
} from '../test-support/point-in-time';
import { encodeFeatureSet, type JoinInput } from './feature-set.task';
import { tableVersionsToRead, windowTimeBounds } from './join-pruning';
import { versionTimeRange } from './time-range.task';

const at = (iso: string) => Date.parse(iso);
const DAY = 86_400_000;
const range = (from: string, to: string) => ({ column: 'feature_time', minMs: at(from), maxMs: at(to) });

describe('tableVersionsToRead: the table versions a window join must read', () => {
  const rows = { minMs: at('2026-01-10T00:00:00Z'), maxMs: at('2026-01-20T00:00:00Z') };
  const versions = [
    { name: 'old', timeRange: range('2026-01-01T00:00:00Z', '2026-01-05T00:00:00Z') },
    { name: 'just within max age', timeRange: range('2026-01-01T00:00:00Z', '2026-01-08T00:00:00Z') },
    { name: 'overlapping', timeRange: range('2026-01-09T00:00:00Z', '2026-01-12T00:00:00Z') },
    { name: 'at the last row', timeRange: range('2026-01-20T00:00:00Z', '2026-01-25T00:00:00Z') },
    { name: 'later than every row', timeRange: range('2026-01-20T00:00:01Z', '2026-01-25T00:00:00Z') },
    { name: 'no readable time', timeRange: { column: 'feature_time' } },
    { name: 'unknown' },
    { name: 'unreadable', timeRange: { column: 'feature_time', unreadable: true as const } },
    { name: 'another column', timeRange: { ...range('2030-01-01T00:00:00Z', '2030-01-02T00:00:00Z'), column: 'x' } },
  ];
  const read = (maxAgeMs?: number) =>
    tableVersionsToRead(versions, 'feature_time', rows, maxAgeMs).map((version) => version.name);

  it('with maxAgeMs, skips versions all older than the first row by more than it, and all later than the last', () => {
    expect(read(2 * DAY)).toEqual([
      'just within max age',
      'overlapping',
      'at the last row',
      'unknown',
      'unreadable',
      'another column',
    ]);
  });

  it('without maxAgeMs, reads every old version: one may hold an entity’s latest value for any later row', () => {
    expect(read()).toEqual([
      'old',
      'just within max age',
      'overlapping',
      'at the last row',
      'unknown',
      'unreadable',
      'another column',
    ]);
  });

  it('reads every version when the window’s bounds are unknown, and keeps one when none can matter', () => {
    expect(tableVersionsToRead(versions, 'feature_time', undefined, DAY)).toHaveLength(versions.length);
    const later = versions.slice(4, 6);
    expect(tableVersionsToRead(later, 'feature_time', rows, DAY).map((v) => v.name)).toEqual(['no readable time']);
    expect(tableVersionsToRead([], 'feature_time', rows, DAY)).toEqual([]);
  });
});

describe('tableVersionsToRead at the maxAge boundary (fractional epoch ms)', () => {
  it('keeps a version the join takes a value from: the same arithmetic as the join’s freshness test', () => {
    // 1.8 - 0.7999999999999999 === 1 (the join takes it), but 0.7999999999999999 < 1.8 - 1 (=== 0.8)
    const rowTime = 1.8;
    const featureTime = 0.7999999999999999;
    const maxAgeMs = 1;
    const rows: DatasetTable = {
      rowCount: 1,
      columns: [
        { name: 'k', type: 'string', values: ['a'] },
        { name: 'ts', type: 'number', values: [rowTime] },
      ],
    };
    const table: DatasetTable = {
      rowCount: 1,
      columns: [
        { name: 'k', type: 'string', values: ['a'] },
        { name: 'ft', type: 'number', values: [featureTime] },
        { name: 'f', type: 'number', values: [42] },
      ],
    };
    const join: PointInTimeJoin = { entityKey: 'k', rowTime: 'ts', featureTime: 'ft', features: ['f'], maxAgeMs };
    const increment = { datasetVersionId: 'v1', sha256: '0'.repeat(64), uri: 'x', sequence: 1, rowCount: 1 };
    const joined = pointInTimeJoin(rows, featureTableOf([{ increment, table }], join), join);
    expect(joined.columns.find((c) => c.name === 'f')!.values).toEqual([42]);
    const versions = [
      { name: 'old', timeRange: { column: 'ft', minMs: featureTime, maxMs: featureTime } },
      { name: 'newer', timeRange: { column: 'ft', minMs: 100, maxMs: 100 } },
    ];
    const read = tableVersionsToRead(versions, 'ft', { minMs: rowTime, maxMs: rowTime }, maxAgeMs);
    expect(read.map((v) => v.name)).toEqual(['old']);
    // one ulp older is too old for the join and for pruning alike
    const older = 0.7999999999999998;
    expect(rowTime - older <= maxAgeMs).toBe(false);
    const tooOld = [{ name: 'old', timeRange: { column: 'ft', minMs: older, maxMs: older } }, ...versions.slice(1)];
    expect(tableVersionsToRead(tooOld, 'ft', { minMs: rowTime, maxMs: rowTime }, maxAgeMs)).toEqual([tooOld[1]]);
  });
});

describe('windowTimeBounds', () => {
  it('spans the ranges of the window’s versions, unknown when one is unknown, unreadable or of another column', () => {
    const event = (from: string, to: string) => ({ timeRange: { ...range(from, to), column: 'event_time' } });
    const window = [
      event('2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z'),
      event('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'),
    ];
    expect(windowTimeBounds(window, 'event_time')).toEqual({
      minMs: at('2026-01-01T00:00:00Z'),
      maxMs: at('2026-01-03T00:00:00Z'),
    });
    expect(windowTimeBounds([...window, { timeRange: { column: 'event_time' } }], 'event_time')).toBeDefined();
    expect(windowTimeBounds([...window, {}], 'event_time')).toBeUndefined();
    expect(
      windowTimeBounds([...window, { timeRange: { column: 'event_time', unreadable: true } }], 'event_time'),
    ).toBeUndefined();
    expect(windowTimeBounds(window, 'other')).toBeUndefined();
    expect(windowTimeBounds(window, undefined)).toBeUndefined();
    expect(windowTimeBounds([{ timeRange: { column: 'event_time' } }], 'event_time')).toBeUndefined();
  });
});

/** Rows of a table whose `event_time` is within [from, to]. */
function rowsBetween(table: DatasetTable, from: number, to: number): DatasetTable {
  const times = table.columns.find((c) => c.name === 'event_time')!.values;
  const keep = times.map((time) => at(String(time))).map((time) => time >= from && time <= to);
  return {
    rowCount: keep.filter(Boolean).length,
    columns: table.columns.map((c) => ({ ...c, values: c.values.filter((_, i) => keep[i]) })),
  };
}

const increment = incrementOf;

describe('a window join reading only the versions that can matter', () => {
  it('gives the feature set (and manifest) of reading every version, on the reference fixture in 23 versions', async () => {
    const spec = churnSpec('pit-pruning', 'customer-features', 'created');
    // In arrival order (late rows included), so the versions' feature-time ranges overlap as a real table's do.
    const total = fixture.features.customer_id.length;
    const size = Math.ceil(total / 24);
    const tableBytes = Array.from({ length: Math.ceil(total / size) }, (_, k) =>
      writeParquet(customerTableRows(k * size, Math.min((k + 1) * size, total))),
    );
    const tableVersions = await Promise.all(
      tableBytes.map(async (bytes, k) => ({
        ...increment(bytes, k + 1),
        timeRange: (await versionTimeRange({ bytes, column: 'feature_time' }))!,
      })),
    );
    // A window of a few days in the middle: table versions before it (beyond maxAgeMs) and after it can be skipped.
    const window = writeParquet(rowsBetween(churnRows(), at('2026-01-06T00:00:00Z'), at('2026-01-08T00:00:00Z')));
    const rows = windowTimeBounds(
      [{ timeRange: (await versionTimeRange({ bytes: window, column: 'event_time' }))! }],
      'event_time',
    );
    const read = tableVersionsToRead(tableVersions, 'feature_time', rows, fixture.maxAgeMs);
    // the fixture's rows arrive out of time order, so most versions' ranges reach into the window: 16 of 23 read
    expect(read.length).toBeGreaterThan(0);
    expect(read.length).toBeLessThan(tableVersions.length);

    const encode = (versions: typeof tableVersions) => {
      const join: JoinInput = {
        pipelineId: 'customer-features',
        join: churnJoin,
        increments: tableVersions.map(({ timeRange: _range, ...version }) => version),
        read: versions.map(({ timeRange: _range, ...version }) => version),
        datasets: versions.map((version) => tableBytes[version.sequence - 1]),
      };
      return encodeFeatureSet(
        { spec, increments: [increment(window, 1)], datasets: [window], joins: [join] },
        { progress: () => undefined },
      );
    };
    const [pruned, everything] = [await encode(read), await encode(tableVersions)];
    expect(Buffer.from(pruned.featureSet).equals(Buffer.from(everything.featureSet))).toBe(true);
    expect(Buffer.from(pruned.manifest).toString()).toBe(Buffer.from(everything.manifest).toString());
    // and joined values are there: the window's rows found values in the versions read
    const table = await readParquet(Buffer.from(pruned.featureSet));
    expect(table.columns.find((c) => c.name === 'balance')!.values.some((value) => value !== null)).toBe(true);
  });
});

describe('versionTimeRange', () => {
  it('reads the column’s earliest and latest readable time; none readable, no bounds; no such column or not Parquet, unreadable', async () => {
    const bytes = writeParquet({
      rowCount: 3,
      columns: [
        { name: 'feature_time', type: 'timestamp', values: ['2026-01-02T00:00:00Z', null, '2026-01-01T00:00:00Z'] },
      ],
    });
    expect(await versionTimeRange({ bytes, column: 'feature_time' })).toEqual(
      range('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'),
    );
    const untimed = writeParquet({
      rowCount: 1,
      columns: [{ name: 'feature_time', type: 'timestamp', values: ['soon'] }],
    });
    expect(await versionTimeRange({ bytes: untimed, column: 'feature_time' })).toEqual({ column: 'feature_time' });
    expect(await versionTimeRange({ bytes, column: 'other' })).toEqual({ column: 'other', unreadable: true });
    expect(await versionTimeRange({ bytes: Buffer.from('not parquet'), column: 'x' })).toEqual({
      column: 'x',
      unreadable: true,
    });
  });
});
