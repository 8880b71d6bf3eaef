import { readParquet, type SnapshotManifest, writeParquet } from '@keel/datasets';
import { describe, expect, it } from 'vitest';
import {
  churnJoin,
  churnRows,
  churnSpec,
  customerTableRows,
  incrementOf,
  pointInTimeFixture,
} from '../test-support/point-in-time';
import { encodeFeatureSet, type JoinInput } from './feature-set.task';

const spec = churnSpec('pit-unit', 'customer-features', 'created');
const fixture = pointInTimeFixture;

const increment = incrementOf;

/** The fixture's feature rows, in arrival order, as two versions of the table pipeline. */
function tableVersions(): { increments: JoinInput['increments']; datasets: Uint8Array[] } {
  const datasets = [writeParquet(customerTableRows(0, 200)), writeParquet(customerTableRows(200))];
  return { increments: datasets.map((bytes, k) => increment(bytes, k + 1)), datasets };
}

function input(versions = tableVersions()) {
  const dataset = writeParquet(churnRows());
  const join: JoinInput = {
    pipelineId: 'customer-features',
    join: churnJoin,
    ...versions,
  };
  return { spec, increments: [increment(dataset, 1)], datasets: [dataset], joins: [join] };
}

describe('feature sets with point-in-time joins', () => {
  it('joins each row to the table as of its event time (the pandas/DuckDB reference) and records the versions read', async () => {
    const encoded = await encodeFeatureSet(input(), { progress: () => undefined });
    const table = await readParquet(Buffer.from(encoded.featureSet));
    const values = (name: string) => table.columns.find((c) => c.name === name)!.values;
    // every row is labelled, so the feature set keeps the rows' order
    expect(table.rowCount).toBe(fixture.rows.customer_id.length);
    expect(values('balance')).toEqual(fixture.expected.balance);
    expect(values('segment')).toEqual(fixture.expected.segment);
    expect(values('customer_id')).toEqual(fixture.rows.customer_id);
    const manifest = JSON.parse(Buffer.from(encoded.manifest).toString()) as SnapshotManifest;
    expect(manifest.joins).toEqual([
      expect.objectContaining({
        pipelineId: 'customer-features',
        entityKey: 'customer_id',
        maxAgeMs: fixture.maxAgeMs,
        increments: input().joins[0].increments,
      }),
    ]);
  });

  it('refuses a window while the table has no validated version yet, naming it', async () => {
    await expect(
      encodeFeatureSet(input({ increments: [], datasets: [] }), { progress: () => undefined }),
    ).rejects.toMatchObject({
      code: 'bad-dataset',
      message:
        'feature table customer-features has no validated dataset version yet: ingest it before the rows that join it',
    });
  });

  it('refuses a table version lacking a column the join reads, as a bad dataset', async () => {
    const versions = tableVersions();
    const broken = writeParquet({ rowCount: 1, columns: [{ name: 'customer_id', type: 'string', values: ['c1'] }] });
    await expect(
      encodeFeatureSet(
        input({ increments: [...versions.increments, increment(broken, 3)], datasets: [...versions.datasets, broken] }),
        { progress: () => undefined },
      ),
    ).rejects.toMatchObject({
      code: 'bad-dataset',
      message: expect.stringMatching(
        /^joining customer-features: feature table version ds-[0-9a-f]+ has no column "feature_time"$/,
      ),
    });
  });
});
