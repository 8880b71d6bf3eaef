/**
 * What a feature table's growth costs the point-in-time join path, before and after reading only what can matter:
 * a table of 200 small versions (one every 30 minutes, 10 % of each version's rows late by up to a day), joined by a
 * window of the last 6 hours with maxAgeMs 2 h.
 * - online view at the 200th version: built from every version vs from the 199th's view and the new version;
 * - the window's join (the whole feature set task): every table version read vs those tableVersionsToRead keeps.
 * In process, on the event loop (the services run the same functions on a worker thread); downloads are not counted,
 * only how many versions (and bytes) would be. Rounds alternate A/B; medians printed.
 *   npx node -r @swc-node/register tools/bench/joins-growth.ts   (under /work/notes/quiet on the shared machine)
 */
import { writeParquet } from '@keel/datasets';
import { encodeFeatureSet, type JoinInput } from '../../apps/features/src/feature-sets/feature-set.task';
import { tableVersionsToRead, windowTimeBounds } from '../../apps/features/src/feature-sets/join-pruning';
import { encodeOnlineView } from '../../apps/features/src/feature-sets/online-view.task';
import { versionTimeRange } from '../../apps/features/src/feature-sets/time-range.task';
import { churnSpec, incrementOf } from '../../apps/features/src/test-support/point-in-time';

const VERSIONS = 200;
const ROWS_PER_VERSION = 50;
const ENTITIES = 500;
const STEP_MS = 30 * 60_000;
const MAX_AGE_MS = 2 * 60 * 60_000;
const ROUNDS = 5;
const T0 = Date.parse('2026-11-01T00:00:00Z');

let seed = 7;
const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;

function tableVersion(k: number): Uint8Array {
  const keys: string[] = [];
  const times: string[] = [];
  const created: string[] = [];
  const balance: number[] = [];
  const segment: string[] = [];
  for (let i = 0; i < ROWS_PER_VERSION; i++) {
    const late = random() < 0.1 ? random() * 86_400_000 : 0;
    const time = T0 + k * STEP_MS + random() * STEP_MS - late;
    keys.push(`c${String(Math.floor(random() * ENTITIES)).padStart(3, '0')}`);
    times.push(new Date(time).toISOString());
    created.push(new Date(T0 + (k + 1) * STEP_MS).toISOString());
    balance.push(Math.round(random() * 10_000) / 100);
    segment.push(['a', 'b', 'c'][Math.floor(random() * 3)]);
  }
  return writeParquet({
    rowCount: ROWS_PER_VERSION,
    columns: [
      { name: 'balance', type: 'number', values: balance },
      { name: 'segment', type: 'string', values: segment },
      { name: 'balance_next', type: 'number', values: balance },
      { name: 'feature_time', type: 'timestamp', values: times },
      { name: 'customer_id', type: 'string', values: keys },
      { name: 'created', type: 'timestamp', values: created },
    ],
  });
}

function windowRows(): Uint8Array {
  const end = T0 + VERSIONS * STEP_MS;
  const n = 2_000;
  return writeParquet({
    rowCount: n,
    columns: [
      { name: 'label', type: 'string', values: Array.from({ length: n }, (_, i) => String(i % 2)) },
      {
        name: 'event_time',
        type: 'timestamp',
        values: Array.from({ length: n }, () => new Date(end - random() * 6 * 60 * 60_000).toISOString()),
      },
      {
        name: 'customer_id',
        type: 'string',
        values: Array.from({ length: n }, () => `c${String(Math.floor(random() * ENTITIES)).padStart(3, '0')}`),
      },
    ],
  });
}

const increment = incrementOf;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const tableBytes = Array.from({ length: VERSIONS }, (_, k) => tableVersion(k));
  const window = windowRows();
  const versions = await Promise.all(
    tableBytes.map(async (bytes, k) => ({
      ...increment(bytes, k + 1),
      timeRange: (await versionTimeRange({ bytes, column: 'feature_time' }))!,
    })),
  );
  const rows = windowTimeBounds(
    [{ timeRange: (await versionTimeRange({ bytes: window, column: 'event_time' }))! }],
    'event_time',
  );
  const read = tableVersionsToRead(versions, 'feature_time', rows, MAX_AGE_MS);
  const bytesOf = (list: typeof versions) => list.reduce((sum, v) => sum + tableBytes[v.sequence - 1].length, 0);

  const viewJoin = {
    entityKey: 'customer_id',
    featureTime: 'feature_time',
    createdTime: 'created',
    features: ['balance', 'segment'],
  };
  const now = T0 + VERSIONS * STEP_MS;
  const before = await encodeOnlineView({ join: viewJoin, datasets: tableBytes.slice(0, -1), now: now - STEP_MS });
  if ('previousUnusable' in before) throw new Error(before.previousUnusable);
  const fullView = () => encodeOnlineView({ join: viewJoin, datasets: tableBytes, now });
  const incrementalView = () =>
    encodeOnlineView({ join: viewJoin, datasets: tableBytes.slice(-1), now, previous: before.bytes });

  const spec = churnSpec('bench-churn', 'customer-features', 'created');
  const featureSet = (list: typeof versions) => {
    const join: JoinInput = {
      pipelineId: 'customer-features',
      join: { ...viewJoin, rowTime: 'event_time', maxAgeMs: MAX_AGE_MS },
      increments: versions.map(({ timeRange: _range, ...version }) => version),
      read: list.map(({ timeRange: _range, ...version }) => version),
      datasets: list.map((version) => tableBytes[version.sequence - 1]),
    };
    return encodeFeatureSet(
      { spec, increments: [increment(window, 1)], datasets: [window], joins: [join] },
      { progress: () => undefined },
    );
  };
  const [everyOut, prunedOut] = [await featureSet(versions), await featureSet(read)];
  const same = Buffer.from(everyOut.featureSet).equals(Buffer.from(prunedOut.featureSet));

  const times = {
    fullView: [] as number[],
    incrementalView: [] as number[],
    every: [] as number[],
    pruned: [] as number[],
  };
  for (let round = 0; round < ROUNDS; round++) {
    times.fullView.push(await timed(fullView));
    times.incrementalView.push(await timed(incrementalView));
    times.every.push(await timed(() => featureSet(versions)));
    times.pruned.push(await timed(() => featureSet(read)));
  }
  const ms = (values: number[]) => `${median(values).toFixed(1)} ms`;
  console.log(`table: ${VERSIONS} versions x ${ROWS_PER_VERSION} rows, ${ENTITIES} entities; window 2,000 rows, 6 h`);
  console.log(
    `online view at version ${VERSIONS}: every version ${ms(times.fullView)}, from the previous view ${ms(times.incrementalView)} (reads 1 version, ${tableBytes.at(-1)!.length} B, + the view ${before.bytes.length} B, instead of ${VERSIONS} versions, ${bytesOf(versions)} B)`,
  );
  console.log(
    `window join (feature set task): every version ${ms(times.every)}, pruned ${ms(times.pruned)} (reads ${read.length} of ${VERSIONS} versions, ${bytesOf(read)} of ${bytesOf(versions)} B); same feature set: ${same}`,
  );
  console.log(
    `medians of ${ROUNDS} alternating rounds; raw: ${JSON.stringify(times, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}`,
  );
}

void main();
