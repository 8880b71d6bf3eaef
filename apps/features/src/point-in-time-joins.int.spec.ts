import {
  DatasetValidatedV1,
  type EventData,
  FeaturesMaterializedV1,
  joinDefinitionSha256,
  OnlineViewUpdatedV1,
} from '@keel/contracts';
import { type DatasetTable, type OnlineView, readParquet, type SnapshotManifest, writeParquet } from '@keel/datasets';
import { OnlineViewStore } from '@keel/pipelines';
import { BUCKETS } from '@keel/storage';
import {
  datasetValidatedData,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featuresEnvSchema } from './config';
import { IncrementsRepository } from './feature-sets/increments.repository';
import { FeaturesModule } from './features.module';
import {
  churnRows,
  churnSpec,
  customerTableRows,
  customerTableSpec,
  pointInTimeFixture as fixture,
} from './test-support/point-in-time';

describe('point-in-time joins against the real stack', () => {
  let sut: ServiceUnderTest;
  const tableId = uniquePipelineId('pit-table');
  const churnId = uniquePipelineId('pit-churn');

  async function validated(pipelineId: string, table: DatasetTable): Promise<EventData<typeof DatasetValidatedV1>> {
    const stored = await sut.infra.objects.putContentAddressed(
      BUCKETS.datasets,
      `${pipelineId}/versions`,
      writeParquet(table),
      { extension: '.parquet' },
    );
    return datasetValidatedData(pipelineId, stored);
  }

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'features',
      envSchema: featuresEnvSchema,
      features: [FeaturesModule],
      pipelines: [customerTableSpec(tableId), churnSpec(churnId, tableId, 'created')],
      consumers: { datasets: [DatasetValidatedV1] },
      record: {
        topics: [FeaturesMaterializedV1.topic, OnlineViewUpdatedV1.topic],
        keep: (event) => event.key === churnId || event.key === tableId,
      },
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  it('joins the table as of each row time across its versions, matching the reference, and records them', async () => {
    // given the table's feature rows arriving as two validated versions (late and future-dated rows among them)
    const versions = [
      await validated(tableId, customerTableRows(0, 200)),
      await validated(tableId, customerTableRows(200)),
    ];
    for (const version of versions) {
      await sut.infra.publisher.publish(DatasetValidatedV1, version, { id: uniqueName('validated') });
    }
    await sut.recorder.waitForAll((e) => e.topic === FeaturesMaterializedV1.topic && e.key === tableId, 2, {
      what: "the table's own feature sets",
    });
    // when the rows that join it are validated
    const rows = await validated(churnId, churnRows());
    await sut.infra.publisher.publish(DatasetValidatedV1, rows, { id: uniqueName('validated') });
    const event = await sut.recorder.waitForEvent(FeaturesMaterializedV1, (e) => e.key === churnId);
    // then the feature set carries the table's values as of each row's time, as pandas and DuckDB join them
    const data = event.data;
    expect(data.snapshot?.joinedTables).toEqual([
      { pipelineId: tableId, upToDatasetVersionId: versions[1].datasetVersionId, increments: 2 },
    ]);
    const objects = sut.infra.objects;
    const table = await readParquet(
      await objects.getVerified({ uri: data.featureSetUri, sha256: data.featureSetSha256 }),
    );
    const values = (name: string) => table.columns.find((c) => c.name === name)?.values;
    expect(table.rowCount).toBe(fixture.rows.customer_id.length);
    expect(values('balance')).toEqual(fixture.expected.balance);
    expect(values('segment')).toEqual(fixture.expected.segment);
    // and the snapshot manifest names the table versions read, so the run can be reproduced
    const manifest = JSON.parse(
      (
        await objects.getVerified({ uri: data.snapshot!.manifestUri, sha256: data.snapshot!.manifestSha256 })
      ).toString(),
    ) as SnapshotManifest;
    expect(manifest.joins?.[0].increments.map((increment) => increment.datasetVersionId)).toEqual(
      versions.map((version) => version.datasetVersionId),
    );

    // and serving's online view of the table holds every customer's latest values as of its newest version
    const viewEvent = await sut.recorder.waitForEvent(
      OnlineViewUpdatedV1,
      (e) => e.key === churnId && (e.data as { sequence: number }).sequence === 2,
    );
    // (recorded under the join's definition, which the model's signature names)
    const joinSha256 = joinDefinitionSha256(churnSpec(churnId, tableId, 'created').joins![0]);
    expect(viewEvent.data).toMatchObject({ joinSha256 });
    // (the feature set names the same definition, and the table version its cut reached)
    expect(data.joins).toEqual([{ tablePipelineId: tableId, joinSha256, upToSequence: 2 }]);
    const current = await new OnlineViewStore(sut.infra.mongo).current(churnId, tableId, joinSha256);
    expect(current).toMatchObject({ ...viewEvent.data, upToDatasetVersionId: versions[1].datasetVersionId });
    const view = JSON.parse(
      (await objects.getVerified({ uri: current!.viewUri, sha256: current!.viewSha256 })).toString(),
    ) as OnlineView;
    expect(Object.keys(view.entities).sort()).toEqual([...new Set(fixture.features.customer_id)].sort());
    expect(current!.entities).toBe(Object.keys(view.entities).length);
    // (built from both versions, and when: the next version's build extends it)
    expect(current).toMatchObject({ versionCount: 2, builtAtMs: expect.any(Number) as number });

    // and each version's feature-time range is recorded (a window's join skips table versions by it); a version
    // recorded without one (before ranges were) is found for a backfill, which records one once
    const increments = sut.app.get(IncrementsRepository);
    const [first, second] = await increments.upTo(tableId, 2);
    for (const version of [first, second]) {
      expect(version.timeRange).toEqual({
        column: 'feature_time',
        minMs: expect.any(Number) as number,
        maxMs: expect.any(Number) as number,
        columns: expect.stringContaining('["feature_time","timestamp"]') as string,
      });
    }
    await sut.infra.mongo
      .collection<{ _id: string }>('dataset_increments')
      .updateOne({ _id: first.datasetVersionId }, { $unset: { timeRange: '' } });
    expect((await increments.withoutTimeRange(tableId, 4)).map((v) => v.datasetVersionId)).toEqual([
      first.datasetVersionId,
    ]);
    // one recorded before ranges carried the columns is recorded again, once
    await increments.recordTimeRange(first.datasetVersionId, { column: 'feature_time', minMs: 0, maxMs: 1 });
    expect((await increments.withoutTimeRange(tableId, 4)).map((v) => v.datasetVersionId)).toEqual([
      first.datasetVersionId,
    ]);
    const columns = '[["feature_time","timestamp"]]';
    await increments.recordTimeRange(first.datasetVersionId, { column: 'feature_time', minMs: 1, maxMs: 2, columns });
    await increments.recordTimeRange(first.datasetVersionId, { column: 'feature_time', minMs: 3, maxMs: 4, columns });
    expect((await increments.get(first.datasetVersionId))?.timeRange).toEqual({
      column: 'feature_time',
      minMs: 1,
      maxMs: 2,
      columns,
    });
    expect(await increments.withoutTimeRange(tableId, 4)).toEqual([]);
  });
});
