import { Injectable } from '@nestjs/common';
import { DatasetIngestedV1, type EventData, type PipelineSpecV1 } from '@keel/contracts';
import { tableFromRecords, writeParquet } from '@keel/datasets';
import { Infrastructure } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { type CleanRecord } from '../records/record-checks';
import { datasetSchema } from './dataset-schema';
import { type DatasetVersion, DatasetsRepository } from './datasets.repository';

const tracer = trace.getTracer('keel-ingestion');

/**
 * Turns checked records into a dataset version: Parquet in object storage (content-addressed), a `datasets`
 * document, and a dataset.ingested event. The one path for both staged Kafka records and CSV uploads.
 */
@Injectable()
export class DatasetVersionsService {
  constructor(
    private readonly infra: Infrastructure,
    private readonly datasets: DatasetsRepository,
  ) {}

  /**
   * Writes a version and announces it. Every step is idempotent (same records ⇒ same bytes ⇒ same sha256, key,
   * document and event id), so a crash anywhere is repaired by doing it all again.
   */
  async write(
    spec: PipelineSpecV1,
    records: readonly CleanRecord[],
    sources: readonly string[],
  ): Promise<DatasetVersion> {
    return tracer.startActiveSpan('write dataset version', async (span) => {
      try {
        span.setAttributes({ 'keel.pipeline.id': spec.id, 'keel.dataset.rows': records.length });
        const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
        // The pipeline id in the file's metadata: equal rows in two pipelines are two versions with their own ids and
        // events (consumers deduplicate by event id, which derives from the content hash).
        const bytes = writeParquet(tableFromRecords(records, schema), { 'keel.pipeline_id': spec.id });
        const stored = await this.infra.objects.putContentAddressed(BUCKETS.datasets, spec.id, bytes, {
          extension: '.parquet',
          contentType: 'application/vnd.apache.parquet',
        });
        const datasetVersionId = `ds-${stored.sha256.slice(0, 32)}`;
        const existing = await this.datasets.get(datasetVersionId);
        const parent = existing ? undefined : await this.datasets.latest(spec.id);
        const version =
          existing ??
          (await this.datasets.upsert({
            datasetVersionId,
            pipelineId: spec.id,
            uri: stored.uri,
            sha256: stored.sha256,
            sizeBytes: stored.sizeBytes,
            format: 'parquet',
            rowCount: records.length,
            columns: schema,
            sources: [...sources],
            ...(parent ? { parentVersionId: parent.datasetVersionId } : {}),
            createdAt: new Date(),
          }));
        // Also after a crash that left the version without its head: the retry finds the version and repairs it.
        await this.datasets.advanceHead(version);
        span.setAttribute('keel.dataset.version', version.datasetVersionId);
        await this.infra.publisher.publish(DatasetIngestedV1, toEvent(version), {
          id: `dataset-ingested-${version.datasetVersionId}`,
        });
        return version;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
  }
}

function toEvent(version: DatasetVersion): EventData<typeof DatasetIngestedV1> {
  return {
    pipelineId: version.pipelineId as EventData<typeof DatasetIngestedV1>['pipelineId'],
    datasetVersionId: version.datasetVersionId as EventData<typeof DatasetIngestedV1>['datasetVersionId'],
    uri: version.uri,
    sha256: version.sha256,
    sizeBytes: version.sizeBytes,
    format: version.format,
    rowCount: version.rowCount,
    columns: version.columns.map(({ name, type }) => ({ name, type })),
    sources: version.sources,
    ...(version.parentVersionId
      ? { parentVersionId: version.parentVersionId as EventData<typeof DatasetIngestedV1>['datasetVersionId'] }
      : {}),
  };
}
