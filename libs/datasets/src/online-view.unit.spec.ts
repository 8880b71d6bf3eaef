import { describe, expect, it } from 'vitest';
import fixture from './fixtures/point-in-time.json';
import { buildOnlineView, onlineValuesAt } from './online-view';
import { type DatasetTable } from './table';

const table = (columns: Record<string, (number | string | null)[]>): DatasetTable => {
  const entries = Object.entries(columns);
  return {
    rowCount: entries[0][1].length,
    columns: entries.map(([name, values]) => ({
      name,
      type: values.some((v) => typeof v === 'number') ? 'number' : 'string',
      values,
    })),
  };
};

const join = {
  entityKey: 'customer_id',
  featureTime: 'feature_time',
  createdTime: 'created',
  features: ['balance', 'segment'],
};

/** The fixture's feature rows, in arrival order, as two table versions. */
function versions(): DatasetTable[] {
  const slice = (from: number, to?: number) =>
    table(Object.fromEntries(Object.entries(fixture.features).map(([name, values]) => [name, values.slice(from, to)])));
  return [slice(0, 200), slice(200)];
}

describe('online view of a feature table', () => {
  it('answers at any time after it was built as the point-in-time join does (the pandas/DuckDB reference)', () => {
    // built before every row's time, the view keeps every row; asked at each row's time it must give the reference
    const view = buildOnlineView(versions(), join, Number.NEGATIVE_INFINITY);
    const got = fixture.rows.customer_id.map((key, r) =>
      onlineValuesAt(view.entities[key], Date.parse(fixture.rows.event_time[r]), fixture.maxAgeMs),
    );
    expect(got.map((values) => values?.[0] ?? null)).toEqual(fixture.expected.balance);
    expect(got.map((values) => values?.[1] ?? null)).toEqual(fixture.expected.segment);
    expect(view.features).toEqual([
      { name: 'balance', type: 'number' },
      { name: 'segment', type: 'string' },
    ]);
  });

  it('keeps per entity only the latest row at build time and the rows dated later', () => {
    const rows = table({
      customer_id: ['a', 'a', 'a', 'a', 'b'],
      feature_time: [
        '2026-01-01T00:00:00Z',
        '2026-01-03T00:00:00Z',
        '2026-01-02T00:00:00Z', // late: arrives after a newer row
        '2026-02-01T00:00:00Z', // future-dated at build time
        '2026-01-01T00:00:00Z',
      ],
      created: ['', '', '', '', ''],
      balance: [1, 3, 2, 9, 5],
      segment: ['x', 'z', 'y', 'w', 'v'],
    });
    const now = Date.parse('2026-01-10T00:00:00Z');
    const view = buildOnlineView([rows], join, now);
    expect(view.entities.a.map(([, values]) => values[0])).toEqual([3, 9]);
    // at request time: the current row, the future-dated one once its time has come, nothing when too old
    expect(onlineValuesAt(view.entities.a, now)).toEqual([3, 'z']);
    expect(onlineValuesAt(view.entities.a, Date.parse('2026-02-01T00:00:00Z'))).toEqual([9, 'w']);
    expect(onlineValuesAt(view.entities.b, now, 86_400_000)).toBeUndefined();
    expect(onlineValuesAt(view.entities.b, now, 10 * 86_400_000)).toEqual([5, 'v']);
    expect(onlineValuesAt(view.entities.unknown, now)).toBeUndefined();
  });
});
