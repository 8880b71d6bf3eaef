import { Injectable } from '@nestjs/common';
import { type DatasetIngestedV1, DatasetRejectedV1, DatasetValidatedV1, type EventData } from '@keel/contracts';
import { type DatasetTable, readParquet } from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { Infrastructure } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { inferReference, profileTable, validateDataset } from '../checks/validation-checks';
import { ValidationRepository } from './validation.repository';

const MAX_FINDINGS_IN_EVENT = 200;

type Ingested = EventData<typeof DatasetIngestedV1>;

/**
 * The outcome of validating a dataset version (whose id names its pipeline) under a spec version: the checks depend
 * on the spec, so a version validated again under a changed spec is a new outcome, and a redelivery the same one.
 */
export function validationEventId(
  outcome: 'validated' | 'rejected',
  datasetVersionId: string,
  specVersion: number,
): string {
  return `dataset-${outcome}-${datasetVersionId}-spec${specVersion}`;
}

/**
 * Validates one dataset version: loads it (sha256-verified), sets the pipeline's reference from its first version,
 * runs the checks, writes the report, and passes or rejects the version with an event.
 */
@Injectable()
export class ValidationService {
  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: ValidationRepository,
  ) {}

  async validate(data: Ingested): Promise<{ passed: boolean; reportUri: string }> {
    return withSpan(
      'validate dataset version',
      { [KeelAttr.PIPELINE_ID]: data.pipelineId, [KeelAttr.DATASET_VERSION]: data.datasetVersionId },
      async (span) => {
        const result = await this.run(data);
        span.setAttribute(KeelAttr.VALIDATION_PASSED, result.passed);
        return result;
      },
    );
  }

  private async run(data: Ingested): Promise<{ passed: boolean; reportUri: string }> {
    const { spec, version: specVersion } = await this.infra.pipelines.get(data.pipelineId);
    const table = await this.load(data);
    const reference =
      (await this.repository.reference(data.pipelineId)) ??
      (await this.repository.setReferenceOnce({
        pipelineId: data.pipelineId,
        datasetVersionId: data.datasetVersionId,
        columns: inferReference(table),
        createdAt: new Date(),
      }));
    const findings = validateDataset(spec, table, reference.columns);
    const errors = findings.filter((finding) => finding.severity === 'error');
    const passed = errors.length === 0;
    // No timestamp in the report: the same version validated twice gives the same bytes, hence the same URI.
    const report = {
      pipelineId: data.pipelineId,
      datasetVersionId: data.datasetVersionId,
      datasetSha256: data.sha256,
      datasetUri: data.uri,
      rowCount: table.rowCount,
      passed,
      findings,
      columns: profileTable(table),
      referenceDatasetVersionId: reference.datasetVersionId,
    };
    const stored = await this.infra.objects.putContentAddressed(
      BUCKETS.reports,
      data.pipelineId,
      Buffer.from(JSON.stringify(report, null, 2)),
      { extension: '.json', contentType: 'application/json' },
    );
    await this.repository.saveReport({
      pipelineId: data.pipelineId,
      datasetVersionId: data.datasetVersionId,
      reportUri: stored.uri,
      passed,
      findings,
      createdAt: new Date(),
    });
    if (passed) {
      await this.infra.publisher.publish(
        DatasetValidatedV1,
        {
          pipelineId: data.pipelineId,
          datasetVersionId: data.datasetVersionId,
          datasetUri: data.uri,
          datasetSha256: data.sha256,
          reportUri: stored.uri,
          warnings: findings.slice(0, MAX_FINDINGS_IN_EVENT),
        },
        { id: validationEventId('validated', data.datasetVersionId, specVersion) },
      );
    } else {
      await this.infra.publisher.publish(
        DatasetRejectedV1,
        {
          pipelineId: data.pipelineId,
          datasetVersionId: data.datasetVersionId,
          reportUri: stored.uri,
          failures: errors.slice(0, MAX_FINDINGS_IN_EVENT),
        },
        { id: validationEventId('rejected', data.datasetVersionId, specVersion) },
      );
    }
    return { passed, reportUri: stored.uri };
  }

  /** The version's rows; bytes that do not match the announced hash or are not Parquet cannot get better by retrying. */
  private async load(data: Ingested): Promise<DatasetTable> {
    const bytes = await this.infra.objects.getVerified({ uri: data.uri, sha256: data.sha256 });
    try {
      return await readParquet(bytes);
    } catch (error) {
      throw new NonRetryableError(
        `${data.uri} is not readable Parquet: ${(error as Error).message}`,
        'unreadable-dataset',
      );
    }
  }
}
