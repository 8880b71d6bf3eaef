import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type DatasetValidatedV1, derivedId, type EventData, FeaturesMaterializedV1 } from '@keel/contracts';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { asBuffer, movableBuffers, WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { featureSetTask } from './feature-set.task';
import { FeatureSetsRepository } from './feature-sets.repository';

type DatasetValidated = EventData<typeof DatasetValidatedV1>;
type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

/**
 * A feature set is the split rows and the fitted transform of one dataset version of one pipeline. Two pipelines fed
 * identical data and specs store byte-identical artifacts, but each materializes its own feature set.
 */
export function featureSetId(
  materialized: Pick<FeaturesMaterialized, 'pipelineId' | 'datasetVersionId' | 'featureSetSha256' | 'transformSha256'>,
): FeaturesMaterialized['featureSetId'] {
  return derivedId('fs', [
    materialized.pipelineId,
    materialized.datasetVersionId,
    materialized.featureSetSha256,
    materialized.transformSha256,
  ]) as FeaturesMaterialized['featureSetId'];
}

/**
 * The announcement of a feature set under the spec version features applied: training depends on the spec, so the
 * same feature set announced under a changed spec trains again, while a redelivery is one event.
 */
export function featuresMaterializedEventId(featureSetId: string, specVersion: number): string {
  return `features-materialized-${featureSetId}-spec${specVersion}`;
}

/**
 * Turns a validated dataset version into a feature set: split, transform fitted on train, both stored
 * content-addressed, metadata upserted and `features.materialized` published. Every effect is keyed by the pipeline,
 * the dataset version and the content, so a redelivered event repeats the same writes and the same event id.
 */
@Injectable()
export class FeatureSetsService implements OnApplicationBootstrap {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: FeatureSetsRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    private readonly workers: WorkerPool,
  ) {
    this.logger = rootLogger.child({ component: 'feature-sets' });
  }

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(featureSetTask);
  }

  async materialize(event: DatasetValidated): Promise<FeaturesMaterialized> {
    const { spec, version: specVersion } = await this.infra.pipelines.get(event.pipelineId);
    const attributes = { [KeelAttr.PIPELINE_ID]: event.pipelineId, [KeelAttr.DATASET_VERSION]: event.datasetVersionId };
    const dataset = await withSpan('load dataset', attributes, () =>
      this.infra.objects.getVerified({ uri: event.datasetUri, sha256: event.datasetSha256 }),
    );
    // Split, fit and encode on a worker thread. A dataset that cannot become a feature set fails with a
    // non-retryable code (bad-dataset, unreadable-dataset): straight to the dead-letter topic.
    const built = await this.workers.run(
      featureSetTask,
      { spec, dataset },
      { transferList: movableBuffers(dataset), attributes },
    );
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.ROWS_TRAIN]: built.rowCounts.train,
      [KeelAttr.ROWS_VALIDATION]: built.rowCounts.validation,
      [KeelAttr.ROWS_HOLDOUT]: built.rowCounts.holdout,
      [KeelAttr.SPLIT_STRATEGY]: spec.split.strategy,
    });
    const data = await withSpan('store feature set', attributes, async (span) => {
      const [transform, featureSet] = await Promise.all([
        this.infra.objects.putContentAddressed(
          BUCKETS.features,
          `${event.pipelineId}/transforms`,
          asBuffer(built.transform),
          { extension: '.json', contentType: 'application/json' },
        ),
        this.infra.objects.putContentAddressed(
          BUCKETS.features,
          `${event.pipelineId}/feature-sets`,
          asBuffer(built.featureSet),
          { extension: '.parquet', contentType: 'application/vnd.apache.parquet' },
        ),
      ]);
      const artifacts = {
        pipelineId: event.pipelineId,
        datasetVersionId: event.datasetVersionId,
        datasetSha256: event.datasetSha256,
        featureSetUri: featureSet.uri,
        featureSetSha256: featureSet.sha256,
        transformUri: transform.uri,
        transformSha256: transform.sha256,
        rowCounts: built.rowCounts,
      };
      const materialized: FeaturesMaterialized = { ...artifacts, featureSetId: featureSetId(artifacts) };
      span.setAttribute(KeelAttr.FEATURE_SET_ID, materialized.featureSetId);
      await this.repository.upsert(materialized);
      return materialized;
    });
    // Published inside the consumer's span, so training continues this pipeline run's trace.
    await this.infra.publisher.publish(FeaturesMaterializedV1, data, {
      id: featuresMaterializedEventId(data.featureSetId, specVersion),
    });
    this.logger.info(
      { pipelineId: data.pipelineId, featureSetId: data.featureSetId, rowCounts: data.rowCounts },
      'feature set materialized',
    );
    return data;
  }
}
