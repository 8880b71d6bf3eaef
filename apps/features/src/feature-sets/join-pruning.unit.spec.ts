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
import { joinReads, tableVersionsToRead, windowTimeBounds } from './join-pruning';
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

describe('joinReads: pruning changes nothing but what is read', () => {
  const increment = (k: number) => ({
    datasetVersionId: `v${k}`,
    sha256: '0'.repeat(64),
    uri: 'x',
    sequence: k,
    rowCount: 1,
  });
  const rows: DatasetTable = {
    rowCount: 1,
    columns: [
      { name: 'k', type: 'string', values: ['a'] },
      { name: 'ts', type: 'number', values: [1000] },
    ],
  };
  const join: PointInTimeJoin = { entityKey: 'k', rowTime: 'ts', featureTime: 'ft', features: ['f'], maxAgeMs: 10 };
  const joinedColumns = ['k', 'ft', 'f'];
  const table = (time: number, f: DatasetTable['columns'][number]): DatasetTable => ({
    rowCount: 1,
    columns: [{ name: 'k', type: 'string', values: ['a'] }, { name: 'ft', type: 'number', values: [time] }, f],
  });
  const recent = table(995, { name: 'f', type: 'number', values: [7] });
  /** Versions as recorded (range and columns, from the table's declared types; `declared: false`: inferred). */
  const versionsOf = (first: DatasetTable, declared = true) =>
    [first, recent].map((t, k) => {
      const time = t.columns[1].values[0] as number;
      const columns = JSON.stringify(t.columns.map((c) => [c.name, declared || k > 0 ? c.type : null]));
      return { increment: increment(k + 1), table: t, timeRange: { column: 'ft', minMs: time, maxMs: time, columns } };
    });
  /** The join of the versions read, typed as the task types it. */
  const joined = (versions: ReturnType<typeof versionsOf>, types: [string, string][] = []) => {
    const built = featureTableOf(versions, join);
    const typeOf = new Map(types);
    const typed = {
      ...built,
      columns: built.columns.map((c) => ({ ...c, type: (typeOf.get(c.name) as typeof c.type) ?? c.type })),
    };
    return pointInTimeJoin(rows, typed, join);
  };

  it('skips an old version and types the joined columns as the cut’s first version does', () => {
    const all = versionsOf(table(1, { name: 'f', type: 'string', values: ['x'] }));
    const { read, columnTypes } = joinReads(all, 'ft', { minMs: 1000, maxMs: 1000 }, 10, joinedColumns);
    expect(read.map((v) => v.increment.datasetVersionId)).toEqual(['v2']);
    expect(columnTypes).toEqual([
      ['k', 'string'],
      ['ft', 'number'],
      ['f', 'string'],
    ]);
    expect(joined(read, columnTypes)).toEqual(joined(all));
  });

  it('reads a version lacking a joined column, so the feature set fails as the unpruned join does', () => {
    const all = versionsOf(table(1, { name: 'g', type: 'number', values: [0] }));
    const { read } = joinReads(all, 'ft', { minMs: 1000, maxMs: 1000 }, 10, joinedColumns);
    expect(read).toHaveLength(2);
    expect(() => joined(all)).toThrow(/no column "f"/);
    expect(() => joined(read)).toThrow(/no column "f"/);
  });

  it('reads a version whose joined column’s type is inferred from its values, or whose columns are not recorded', () => {
    const inferred = versionsOf(table(1, { name: 'f', type: 'string', values: ['x'] }), false);
    expect(joinReads(inferred, 'ft', { minMs: 1000, maxMs: 1000 }, 10, joinedColumns).read).toHaveLength(2);
    const unrecorded = versionsOf(table(1, { name: 'f', type: 'number', values: [1] })).map((v, k) =>
      k === 0 ? { ...v, timeRange: { column: 'ft', minMs: 1, maxMs: 1 } } : v,
    );
    const { read, columnTypes } = joinReads(unrecorded, 'ft', { minMs: 1000, maxMs: 1000 }, 10, joinedColumns);
    expect(read).toHaveLength(2);
    expect(columnTypes).toBeUndefined();
  });

  it('with the first version read, gives no types (the join types columns by it)', () => {
    const all = versionsOf(table(994, { name: 'f', type: 'number', values: [1] }));
    expect(joinReads(all, 'ft', { minMs: 1000, maxMs: 1000 }, 10, joinedColumns)).toEqual({ read: all });
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
    expect(await versionTimeRange({ bytes, column: 'feature_time' })).toEqual({
      ...range('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'),
      columns: '[["feature_time","timestamp"]]',
    });
    const untimed = writeParquet({
      rowCount: 1,
      columns: [{ name: 'feature_time', type: 'timestamp', values: ['soon'] }],
    });
    expect(await versionTimeRange({ bytes: untimed, column: 'feature_time' })).toEqual({
      column: 'feature_time',
      columns: '[["feature_time","timestamp"]]',
    });
    expect(await versionTimeRange({ bytes, column: 'other' })).toEqual({ column: 'other', unreadable: true });
    expect(await versionTimeRange({ bytes: Buffer.from('not parquet'), column: 'x' })).toEqual({
      column: 'x',
      unreadable: true,
    });
  });
});
