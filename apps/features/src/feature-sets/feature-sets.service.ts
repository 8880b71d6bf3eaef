import { Inject, Injectable } from '@nestjs/common';
import { DatasetValidatedV1, type EventData, FeaturesMaterializedV1 } from '@keel/contracts';
import { readParquet, writeParquet } from '@keel/datasets';
import { stableStringify } from '@keel/ml-models';
import { NonRetryableError } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { buildFeatureSet, FeatureSetInputError } from './feature-set';
import { FeatureSetsRepository } from './feature-sets.repository';

const tracer = trace.getTracer('keel-features');

type DatasetValidated = EventData<typeof DatasetValidatedV1>;
type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

/** Runs `work` in an active span that records failures. */
export function inSpan<T>(name: string, work: (span: Span) => Promise<T> | T): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Turns a validated dataset version into a feature set: split, transform fitted on train, both stored
 * content-addressed, metadata upserted and `features.materialized` published. Every effect is keyed by content, so a
 * redelivered event repeats the same writes and the same event id.
 */
@Injectable()
export class FeatureSetsService {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: FeatureSetsRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'feature-sets' });
  }

  async materialize(event: DatasetValidated): Promise<FeaturesMaterialized> {
    const { spec } = await this.infra.pipelines.get(event.pipelineId);
    const dataset = await inSpan('load dataset', async (span) => {
      span.setAttributes({ 'keel.pipeline_id': event.pipelineId, 'keel.dataset_version_id': event.datasetVersionId });
      return readParquet(await this.infra.objects.getVerified({ uri: event.datasetUri, sha256: event.datasetSha256 }));
    });
    const built = await inSpan('fit transform', (span) => {
      try {
        const result = buildFeatureSet(dataset, spec);
        span.setAttributes({
          'keel.rows.train': result.rowCounts.train,
          'keel.rows.validation': result.rowCounts.validation,
          'keel.rows.holdout': result.rowCounts.holdout,
          'keel.split.strategy': spec.split.strategy,
        });
        return result;
      } catch (error) {
        if (error instanceof FeatureSetInputError) throw new NonRetryableError(error.message, 'bad-dataset');
        throw error;
      }
    });
    const data = await inSpan('store feature set', async () => {
      const prefix = `${event.pipelineId}`;
      const [transform, featureSet] = await Promise.all([
        this.infra.objects.putContentAddressed(
          BUCKETS.features,
          `${prefix}/transforms`,
          Buffer.from(stableStringify(built.transform)),
          { extension: '.json', contentType: 'application/json' },
        ),
        this.infra.objects.putContentAddressed(BUCKETS.features, `${prefix}/feature-sets`, writeParquet(built.table), {
          extension: '.parquet',
          contentType: 'application/vnd.apache.parquet',
        }),
      ]);
      const materialized = {
        pipelineId: event.pipelineId,
        datasetVersionId: event.datasetVersionId,
        datasetSha256: event.datasetSha256,
        featureSetId: `fs-${featureSet.sha256.slice(0, 32)}`,
        featureSetUri: featureSet.uri,
        featureSetSha256: featureSet.sha256,
        transformUri: transform.uri,
        transformSha256: transform.sha256,
        rowCounts: built.rowCounts,
      } as FeaturesMaterialized;
      await this.repository.upsert(materialized);
      return materialized;
    });
    // Published inside the consumer's span, so training continues this pipeline run's trace.
    await this.infra.publisher.publish(FeaturesMaterializedV1, data, {
      id: `features-materialized-${data.featureSetId}`,
    });
    this.logger.info(
      { pipelineId: data.pipelineId, featureSetId: data.featureSetId, rowCounts: data.rowCounts },
      'feature set materialized',
    );
    return data;
  }
}
