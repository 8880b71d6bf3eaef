import { describe, expect, it } from 'vitest';
import fixture from './fixtures/point-in-time.json';
import { pointInTimeJoin } from './point-in-time';
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

const join = { entityKey: 'customer_id', rowTime: 'event_time', featureTime: 'feature_time' };

describe('pointInTimeJoin', () => {
  it('gives each row the latest features of its entity at or before its time, never later and never too old', () => {
    const rows = table({
      customer_id: ['a', 'a', 'a', 'b', 'z'],
      event_time: [
        '2026-01-01T10:00:00Z',
        '2026-01-02T10:00:00Z',
        '2026-01-09T00:00:00Z',
        '2026-01-02T00:00:00Z',
        '2026-01-02T00:00:00Z',
      ],
    });
    const features = table({
      // in arrival order: a's 09:00 value arrives after its 12:00 one (late), b's value is future-dated
      customer_id: ['a', 'a', 'a', 'b'],
      feature_time: ['2026-01-01T12:00:00Z', '2026-01-02T09:00:00Z', '2026-01-01T09:00:00Z', '2026-02-01T00:00:00Z'],
      balance: [2, 3, 1, 9],
    });
    const joined = pointInTimeJoin(rows, features, { ...join, features: ['balance'], maxAgeMs: 2 * 86_400_000 });
    expect(joined.columns.map((c) => c.name)).toEqual(['customer_id', 'event_time', 'balance']);
    expect(joined.columns[2].values).toEqual([1, 3, null, null, null]);
  });

  it('matches pandas merge_asof and DuckDB ASOF JOIN on a fixture with late, future-dated and tied feature rows', () => {
    expect(fixture.lateArrivals).toBeGreaterThan(50);
    expect(fixture.futureDated).toBeGreaterThan(0);
    expect(fixture.ties).toBeGreaterThan(0);
    const joined = pointInTimeJoin(table(fixture.rows), table(fixture.features), {
      ...join,
      createdTime: 'created',
      features: ['balance', 'segment'],
      maxAgeMs: fixture.maxAgeMs,
    });
    const byName = Object.fromEntries(joined.columns.map((c) => [c.name, c.values]));
    expect(byName.balance).toEqual(fixture.expected.balance);
    expect(byName.segment).toEqual(fixture.expected.segment);
    // the fixture exercises both outcomes
    expect(fixture.expected.balance.filter((v) => v === null).length).toBeGreaterThan(20);
    expect(fixture.expected.balance.filter((v) => v !== null).length).toBeGreaterThan(200);
  });
});
