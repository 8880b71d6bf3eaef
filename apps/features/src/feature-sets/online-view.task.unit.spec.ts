import {
  type DatasetTable,
  featureTableOf,
  type OnlineView,
  onlineValuesAt,
  pointInTimeJoin,
  readParquet,
  writeParquet,
} from '@keel/datasets';
import { describe, expect, it } from 'vitest';
import { pointInTimeFixture as fixture } from '../test-support/point-in-time';
import { type EncodedOnlineView, encodeOnlineView, type OnlineViewInput } from './online-view.task';

const at = (iso: string) => Date.parse(iso);

/** A table version as Parquet: customer_id, feature_time, created, balance, segment (one array per row). */
function version(rows: [string | null, string, string, number, string][]): Uint8Array {
  const column = (k: number) => rows.map((row) => row[k] as string | number | null);
  const table: DatasetTable = {
    rowCount: rows.length,
    columns: [
      { name: 'customer_id', type: 'string', values: column(0) },
      { name: 'feature_time', type: 'timestamp', values: column(1) },
      { name: 'created', type: 'timestamp', values: column(2) },
      { name: 'balance', type: 'number', values: column(3) },
      { name: 'segment', type: 'string', values: column(4) },
    ],
  };
  return writeParquet(table);
}

/**
 * Four versions: late-arriving rows (an older feature time in a newer version), a future-dated row that becomes
 * current between builds, ties of feature time settled by created time (when joined with it) or by arrival, a tie
 * of both (arrival), a row without a key and one without a readable time.
 */
const VERSIONS = [
  version([
    ['a', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 1, 'x'],
    ['b', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 10, 'x'],
    ['a', '2026-01-20T00:00:00Z', '2026-01-01T00:00:00Z', 9, 'future'],
  ]),
  version([
    ['a', '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z', 5, 'y'],
    ['b', '2025-12-01T00:00:00Z', '2026-01-05T00:00:00Z', -1, 'late'],
    ['c', '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z', 100, 'y'],
    [null, '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z', 0, 'no key'],
  ]),
  version([
    // the same feature time as a's current row, created earlier: loses with created time, wins without (arrived later)
    ['a', '2026-01-05T00:00:00Z', '2026-01-04T00:00:00Z', 4, 'tie-older-created'],
    // the same feature and created time as c's: arrived later, wins
    ['c', '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z', 101, 'tie-both'],
    ['b', '2026-01-03T00:00:00Z', '2026-01-06T00:00:00Z', 12, 'z'],
    ['d', 'not a time', '2026-01-06T00:00:00Z', 7, 'no time'],
  ]),
  version([
    ['a', '2026-01-06T00:00:00Z', '2026-01-07T00:00:00Z', 6, 'z'],
    ['b', '2026-01-02T00:00:00Z', '2026-01-08T00:00:00Z', 11, 'late again'],
    ['c', '2026-01-25T00:00:00Z', '2026-01-08T00:00:00Z', 102, 'future'],
  ]),
];
/** When each version's view is built: a's future-dated row becomes current before the last. */
const BUILT_AT = ['2026-01-02T00:00:00Z', '2026-01-06T00:00:00Z', '2026-01-07T00:00:00Z', '2026-01-21T00:00:00Z'].map(
  at,
);

const JOINS = {
  'with created time': {
    entityKey: 'customer_id',
    featureTime: 'feature_time',
    createdTime: 'created',
    features: ['balance', 'segment'],
  },
  'without created time': { entityKey: 'customer_id', featureTime: 'feature_time', features: ['balance', 'segment'] },
};

async function encoded(input: OnlineViewInput): Promise<EncodedOnlineView> {
  const result = await encodeOnlineView(input);
  if ('previousUnusable' in result) throw new Error(`unexpected: ${result.previousUnusable}`);
  return result;
}

const parsed = (view: EncodedOnlineView) => JSON.parse(Buffer.from(view.bytes).toString()) as OnlineView;

describe('an online view built from the previous one and the versions since', () => {
  for (const [name, join] of Object.entries(JOINS)) {
    it(`is byte for byte the view built from every version, version after version (${name})`, async () => {
      let previous: EncodedOnlineView | undefined;
      for (let k = 0; k < VERSIONS.length; k++) {
        const full = await encoded({ join, datasets: VERSIONS.slice(0, k + 1), now: BUILT_AT[k] });
        const incremental = await encoded({
          join,
          datasets: [VERSIONS[k]],
          now: BUILT_AT[k],
          ...(previous ? { previous: previous.bytes } : {}),
        });
        expect(Buffer.from(incremental.bytes).toString()).toBe(Buffer.from(full.bytes).toString());
        expect(incremental.entities).toBe(full.entities);
        previous = incremental;
      }
    });
  }

  it('keeps the newer value against late-arriving rows, and settles ties as the join does', async () => {
    let previous: EncodedOnlineView | undefined;
    const views: Record<string, OnlineView> = {};
    for (const [name, join] of Object.entries(JOINS)) {
      previous = undefined;
      for (let k = 0; k < 3; k++) {
        previous = await encoded({
          join,
          datasets: [VERSIONS[k]],
          now: BUILT_AT[k],
          ...(previous ? { previous: previous.bytes } : {}),
        });
      }
      views[name] = parsed(previous!);
    }
    const now = BUILT_AT[2];
    const withCreated = views['with created time'].entities;
    const withoutCreated = views['without created time'].entities;
    expect(onlineValuesAt(withCreated.a, now)).toEqual([5, 'y']); // created later than the tie that arrived after it
    expect(onlineValuesAt(withoutCreated.a, now)).toEqual([4, 'tie-older-created']); // no created time: arrival
    expect(onlineValuesAt(withCreated.b, now)).toEqual([12, 'z']); // the late 2025-12-01 row overrides nothing
    expect(onlineValuesAt(withCreated.c, now)).toEqual([101, 'tie-both']);
    expect(withCreated.d).toBeUndefined();
    expect(onlineValuesAt(withCreated.a, at('2026-01-20T00:00:00Z'))).toEqual([9, 'future']);
  });

  it('equals the full build on the pandas/DuckDB reference fixture cut into versions', async () => {
    const rows = fixture.features.customer_id.map(
      (key, i) =>
        [
          key,
          fixture.features.feature_time[i],
          fixture.features.created[i],
          fixture.features.balance[i],
          fixture.features.segment[i],
        ] as [string, string, string, number, string],
    );
    const size = Math.ceil(rows.length / 7);
    const versions = Array.from({ length: 7 }, (_, k) => version(rows.slice(k * size, (k + 1) * size)));
    const times = rows.map((row) => at(row[1])).sort((a, b) => a - b);
    const join = JOINS['with created time'];
    let previous: EncodedOnlineView | undefined;
    for (let k = 0; k < versions.length; k++) {
      // the build time walks through the rows' times, so rows go from future-dated to current to superseded
      const now = times[Math.floor(((k + 1) * (times.length - 1)) / versions.length)];
      const full = await encoded({ join, datasets: versions.slice(0, k + 1), now });
      previous = await encoded({
        join,
        datasets: [versions[k]],
        now,
        ...(previous ? { previous: previous.bytes } : {}),
      });
      expect(Buffer.from(previous.bytes).toString()).toBe(Buffer.from(full.bytes).toString());
    }
  });

  it('reports a previous view of other features, or one without created times where the join has one', async () => {
    const join = JOINS['with created time'];
    const withoutCreated = await encoded({ join: JOINS['without created time'], datasets: [VERSIONS[0]], now: 0 });
    expect(await encodeOnlineView({ join, datasets: [VERSIONS[1]], now: 0, previous: withoutCreated.bytes })).toEqual({
      previousUnusable: 'its rows carry no created time',
    });
    const reordered = await encoded({ join: { ...join, features: ['segment', 'balance'] }, datasets: [], now: 0 });
    expect(await encodeOnlineView({ join, datasets: [], now: 0, previous: reordered.bytes })).toEqual({
      previousUnusable: 'it is not a view of these features',
    });
    expect(await encodeOnlineView({ join, datasets: [], now: 0, previous: Buffer.from('{') })).toMatchObject({
      previousUnusable: expect.stringContaining('not JSON'),
    });
  });
});

describe('an entity keyed "__proto__"', () => {
  it('is in the online view, and serving finds the value the training join takes', async () => {
    const bytes = writeParquet({
      rowCount: 2,
      columns: [
        { name: 'k', type: 'string', values: ['__proto__', 'b'] },
        { name: 'ft', type: 'number', values: [1, 1] },
        { name: 'f', type: 'number', values: [5, 6] },
      ],
    });
    const join = { entityKey: 'k', featureTime: 'ft', features: ['f'] };
    const built = (await encodeOnlineView({ join, datasets: [bytes], now: 10 })) as EncodedOnlineView;
    expect(built.entities).toBe(2);
    const view = JSON.parse(Buffer.from(built.bytes).toString()) as OnlineView;
    expect(Object.keys(view.entities).sort()).toEqual(['__proto__', 'b']);
    // training: the point-in-time join of a row of that entity at time 10
    const table = await readParquet(Buffer.from(bytes));
    const rows: DatasetTable = {
      rowCount: 1,
      columns: [
        { name: 'k', type: 'string', values: ['__proto__'] },
        { name: 'ts', type: 'number', values: [10] },
      ],
    };
    const pit = { ...join, rowTime: 'ts' };
    const increment = { datasetVersionId: 'v1', sha256: '0'.repeat(64), uri: 'x', sequence: 1, rowCount: 2 };
    const trained = pointInTimeJoin(rows, featureTableOf([{ increment, table }], pit), pit);
    expect(trained.columns.find((c) => c.name === 'f')!.values).toEqual([5]);
    expect(onlineValuesAt(view.entities['__proto__'], 10)).toEqual([5]);
    // and a second build from this view keeps it
    const again = (await encodeOnlineView({ join, datasets: [], now: 11, previous: built.bytes })) as EncodedOnlineView;
    expect(Object.keys((JSON.parse(Buffer.from(again.bytes).toString()) as OnlineView).entities).sort()).toEqual([
      '__proto__',
      'b',
    ]);
  });
});
