import { NonRetryableError } from '@keel/messaging';
import { type Infrastructure } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { type ServiceUnderTest, uniquePipelineId } from '@keel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PredictionArchive } from '../archive/prediction-archive';
import { archiveRecord } from '../test-support/archive-batch';
import { startMonitoringUnderTest } from '../test-support/monitoring-under-test';
import { LABEL_COLLECTIONS } from './label-retention';
import { RetentionService } from './retention.service';

const HOUR_MS = 60 * 60 * 1000;

describe('retention of the label collections and a partly removed archive, on the real stack', () => {
  let service: ServiceUnderTest;
  let infra: Infrastructure;

  beforeAll(async () => {
    service = await startMonitoringUnderTest({
      database: 'keel_monitoring_retention_int',
      // Joins kept 10 days but predictions 20: a join outlives its prediction's archive, so the 20 days win.
      env: {
        PREDICTION_LOG_RETENTION_HOURS: String(20 * 24),
        LABEL_JOIN_RETENTION_HOURS: String(10 * 24),
        LABEL_LOG_RETENTION_HOURS: String(30 * 24),
        PERFORMANCE_RETENTION_HOURS: String(30 * 24),
      },
      locator: {
        locate: async () => {
          throw new NonRetryableError('no packages in this test');
        },
      },
    });
    infra = service.infra;
  });

  afterAll(async () => {
    await service?.close();
  });

  it('deletes join outcomes, pending labels, label windows, idle version states and orphaned counts by age', async () => {
    const pipeline = uniquePipelineId('ret-labels');
    const quiet = uniquePipelineId('ret-quiet');
    const daysAgo = (days: number) => new Date(Date.now() - days * 24 * HOUR_MS);
    const collection = (name: string) => infra.mongo.collection(name);
    // given join outcomes settled 25, 15 and 1 days ago
    await collection(LABEL_COLLECTIONS.joins).insertMany(
      [25, 15, 1].map((days) => ({
        _id: `${pipeline}|pred-${days}` as never,
        pipelineId: pipeline,
        predictionId: `pred-${days}`,
        outcome: 'joined',
        labelReceivedAt: daysAgo(days),
        settledAt: daysAgo(days),
      })),
    );
    // labels pending since 40 and 1 days ago, and one stored label of `pipeline` (none of `quiet`)
    const pending = [40, 1].map((days) => {
      const receivedAt = daysAgo(days);
      return {
        _id: `${pipeline}|late-${days}@${receivedAt.getTime()}`,
        key: `${pipeline}|late-${days}`,
        pipelineId: pipeline,
        predictionId: `late-${days}`,
        label: 1,
        observedAt: receivedAt,
        receivedAt,
      };
    });
    await collection(LABEL_COLLECTIONS.pending).insertMany(
      pending.map((label) => ({ ...label, _id: label._id as never })),
    );
    await collection(LABEL_COLLECTIONS.logs).insertOne({
      _id: `${pipeline}|pred-1` as never,
      pipelineId: pipeline,
      predictionId: 'pred-1',
      label: 1,
      observedAt: daysAgo(1),
      receivedAt: daysAgo(1),
    });
    // counts of both pipelines
    await collection(LABEL_COLLECTIONS.counts).insertMany(
      [pipeline, quiet].flatMap((id) => [
        { _id: `${id}|intake` as never, pipelineId: id, received: 3, duplicate: 0 },
        { _id: `${id}|join` as never, pipelineId: id, joined: 2 },
      ]),
    );
    // label windows closed 40 and 1 days ago; version states updated 40 days ago (one with an event to publish) and now
    await collection(LABEL_COLLECTIONS.performanceWindows).insertMany(
      [40, 1].map((days, i) => ({
        _id: `${pipeline}|1|${i}` as never,
        pipelineId: pipeline,
        modelVersion: 1,
        windowIndex: i,
        closedAt: daysAgo(days),
      })),
    );
    await collection(LABEL_COLLECTIONS.performanceStates).insertMany([
      {
        _id: `${pipeline}|1` as never,
        pipelineId: pipeline,
        modelVersion: 1,
        json: '{}',
        outbox: '[]',
        epoch: 1,
        updatedAt: daysAgo(40),
      },
      {
        _id: `${pipeline}|2` as never,
        pipelineId: pipeline,
        modelVersion: 2,
        json: '{}',
        outbox: '[{}]',
        epoch: 1,
        updatedAt: daysAgo(40),
      },
      {
        _id: `${pipeline}|3` as never,
        pipelineId: pipeline,
        modelVersion: 3,
        json: '{}',
        outbox: '[]',
        epoch: 1,
        updatedAt: daysAgo(0),
      },
    ]);

    // when the retention sweep runs
    const outcome = await service.app.get(RetentionService).sweep();

    // then what is older than its retention is gone, and the rest stays
    const ids = async (name: string, filter: Record<string, unknown>) =>
      (
        await collection(name)
          .find(filter, { projection: { _id: 1 } })
          .toArray()
      )
        .map((doc) => String(doc._id))
        .sort();
    expect(await ids(LABEL_COLLECTIONS.joins, { pipelineId: pipeline })).toEqual([
      `${pipeline}|pred-1`,
      `${pipeline}|pred-15`,
    ]);
    expect(await ids(LABEL_COLLECTIONS.pending, { pipelineId: pipeline })).toEqual([pending[1]._id]);
    expect(await ids(LABEL_COLLECTIONS.performanceWindows, { pipelineId: pipeline })).toEqual([`${pipeline}|1|1`]);
    expect(await ids(LABEL_COLLECTIONS.performanceStates, { pipelineId: pipeline })).toEqual([
      `${pipeline}|2`,
      `${pipeline}|3`,
    ]);
    expect(await ids(LABEL_COLLECTIONS.counts, { pipelineId: { $in: [pipeline, quiet] } })).toEqual([
      `${pipeline}|intake`,
      `${pipeline}|join`,
    ]);
    expect(outcome).toMatchObject({ labelCounts: 2 });
    expect(outcome.labelJoins).toBeGreaterThanOrEqual(1);
    expect(outcome.pendingLabels).toBeGreaterThanOrEqual(1);
    expect(outcome.performanceWindows).toBeGreaterThanOrEqual(1);
    expect(outcome.performanceStates).toBeGreaterThanOrEqual(1);
  });

  it('answers a lookup from the files it has when an id filter lost its file', async () => {
    const pipeline = uniquePipelineId('ret-archive');
    const archive = service.app.get(PredictionArchive);
    // given two archive files of a pipeline, the first of which loses its file (its id filter stays)
    const [lost] = await archive.write([archiveRecord(pipeline, ['gone-1', 'gone-2'])]);
    await archive.write([archiveRecord(pipeline, ['kept-1', 'kept-2'])]);
    const orphansBefore = archive.orphanedFilters;
    await infra.objects.client.removeObject(BUCKETS.monitoring, lost.uri.replace(/^s3:\/\/[^/]+\//, ''));
    // when the label join looks up ids of both files
    const found = await archive.find(pipeline, ['gone-1', 'kept-2']);
    // then the other file answers, and the orphaned filter is counted, not thrown
    expect(found.map((prediction) => prediction.predictionId)).toEqual(['kept-2']);
    expect(archive.orphanedFilters).toBe(orphansBefore + 1);
    const metrics = await service.app.get(PredictionArchive)['metrics']?.archiveOrphanedFilters.get();
    expect(metrics?.values[0]?.value).toBeGreaterThanOrEqual(1);
  });
});
