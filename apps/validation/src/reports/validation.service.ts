import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  type DatasetIngestedV1,
  DatasetRejectedV1,
  DatasetValidatedV1,
  type EventData,
  type PipelineSpec,
} from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { NonRetryableError } from '@keel/messaging';
import { BUCKETS, parseObjectUri, sha256InKey, StorageError } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Span } from '@opentelemetry/api';
import { asBuffer, movableBuffers, WorkerPool } from '@keel/workers';
import { type DatasetChecks, datasetChecksTask, type StoredBaseline } from '../checks/validation.task';
import { type ReferenceColumn } from '../checks/validation-checks';
import { type Baselines, eventShift, recordShift, shiftLines } from './shift-outcome';
import { type ShiftBaselineVersion, type ValidationReference, ValidationRepository } from './validation.repository';

const MAX_FINDINGS_IN_EVENT = 200;

/**
 * How long a version waits for its parent's validation before choosing its previous version without it: long enough
 * for a parent being validated elsewhere (another replica, a rebalance) to finish, well inside the consumer's retry
 * budget (10 minutes), so a parent that never gets a report (dead-lettered) delays its children but does not stop them.
 */
export const PARENT_WAIT_MS = 120_000;

/** The version's parent has no report yet: its previous accepted version cannot be chosen; retried. */
export class ParentNotValidatedError extends Error {
  readonly retryable = true;
  constructor(datasetVersionId: string, parentVersionId: string) {
    super(`${datasetVersionId} waits for its parent ${parentVersionId} to be validated before choosing its previous`);
    this.name = 'ParentNotValidatedError';
  }
}

/** An error that retrying cannot fix: a missing or altered object, bytes that are not Parquet. */
function isPermanent(error: unknown): boolean {
  return error instanceof NonRetryableError || (error instanceof StorageError && !error.retryable);
}

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
export class ValidationService implements OnApplicationBootstrap {
  /** How long a version waits for its parent's report (see PARENT_WAIT_MS). */
  parentWaitMs = PARENT_WAIT_MS;
  /** When each version first waited for its parent (in memory: another replica starts its own wait). */
  private readonly waitingSince = new Map<string, number>();

  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: ValidationRepository,
    private readonly workers: WorkerPool,
  ) {}

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(datasetChecksTask);
  }

  async validate(data: Ingested): Promise<{ passed: boolean; reportUri: string }> {
    return withSpan(
      'validate dataset version',
      { [KeelAttr.PIPELINE_ID]: data.pipelineId, [KeelAttr.DATASET_VERSION]: data.datasetVersionId },
      async (span) => {
        const result = await this.run(data, span);
        span.setAttribute(KeelAttr.VALIDATION_PASSED, result.passed);
        return result;
      },
    );
  }

  private async run(data: Ingested, span: Span): Promise<{ passed: boolean; reportUri: string }> {
    const { spec, version: specVersion } = await this.infra.pipelines.get(data.pipelineId);
    const existing = await this.repository.reference(data.pipelineId);
    const previous = await this.previousBaseline(data);
    let baselines = await this.baselines(spec, data, existing, previous);
    let checks = await this.check(spec, data, existing?.columns, baselines.stored);
    let summariesUri: string | undefined;
    let reference = existing;
    if (!reference) {
      // The reference carries its summaries from the moment it is set: a version validated before this one's report
      // is saved (another replica, a rebalance, this one failing after this line) is still compared with it.
      summariesUri = await this.putSummaries(data.pipelineId, checks.summaries);
      reference = await this.repository.setReferenceOnce({
        pipelineId: data.pipelineId,
        datasetVersionId: data.datasetVersionId,
        columns: checks.reference,
        summariesUri,
        createdAt: new Date(),
      });
      // Another version's validation set the reference first: this version is checked against the one that won.
      if (reference.datasetVersionId !== data.datasetVersionId) {
        baselines = await this.baselines(spec, data, reference, previous);
        checks = await this.check(spec, data, reference.columns, baselines.stored);
      }
    }
    // A version's summaries depend on its rows and the spec only, so the ones stored with the reference are its own.
    summariesUri ??= await this.putSummaries(data.pipelineId, checks.summaries);
    const findings = [...checks.findings, ...baselines.findings];
    const errors = findings.filter((finding) => finding.severity === 'error');
    const passed = errors.length === 0;
    const shiftOutcome = shiftLines(baselines, checks.shift);
    // No timestamp in the report: the same version validated twice gives the same bytes, hence the same URI.
    const report = {
      pipelineId: data.pipelineId,
      datasetVersionId: data.datasetVersionId,
      datasetSha256: data.sha256,
      datasetUri: data.uri,
      rowCount: checks.rowCount,
      passed,
      findings,
      columns: checks.columns,
      bias: checks.bias,
      referenceDatasetVersionId: reference.datasetVersionId,
      shift: { baselines: baselines.notes, comparisons: checks.shift, summariesUri },
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
      ...(data.sequence === undefined ? {} : { sequence: data.sequence }),
      summariesUri,
      previousVersionId: previous?.datasetVersionId ?? null,
      shift: shiftOutcome,
    });
    const shift = spec.validation.shift
      ? eventShift(spec.validation.shift.against, baselines, checks.shifted)
      : undefined;
    recordShift(span, shiftOutcome, checks.shifted);
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
          rowCount: data.rowCount,
          ...(data.sequence === undefined ? {} : { sequence: data.sequence }),
          ...(data.parentVersionId === undefined ? {} : { parentVersionId: data.parentVersionId }),
          ...(shift ? { shift } : {}),
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
          ...(shift ? { shift } : {}),
        },
        { id: validationEventId('rejected', data.datasetVersionId, specVersion) },
      );
    }
    return { passed, reportUri: stored.uri };
  }

  /**
   * The previous accepted version this version is compared with: the one its first validation chose (so that a
   * redelivery, or a version accepted meanwhile, cannot change its outcome), else the pipeline's latest accepted
   * version before it, chosen once its parent (the version before it in the chain) has a report: were it chosen while
   * the parent is still being validated, the version before the parent would be pinned for ever. A parent without a
   * report after parentWaitMs is passed over. Null: there is none (the pipeline's first version, or none passed).
   */
  private async previousBaseline(data: Ingested): Promise<ShiftBaselineVersion | null> {
    const before = await this.repository.report(data.datasetVersionId);
    if (before?.previousVersionId === null) return null;
    if (before?.previousVersionId !== undefined) {
      const pinned = await this.repository.report(before.previousVersionId);
      return { datasetVersionId: before.previousVersionId, summariesUri: pinned?.summariesUri };
    }
    const parent = data.parentVersionId;
    if (parent !== undefined && parent !== data.datasetVersionId && !(await this.repository.report(parent))) {
      const since = this.waitingSince.get(data.datasetVersionId) ?? Date.now();
      this.waitingSince.set(data.datasetVersionId, since);
      if (Date.now() - since < this.parentWaitMs) throw new ParentNotValidatedError(data.datasetVersionId, parent);
    }
    this.waitingSince.delete(data.datasetVersionId);
    return this.repository.previousAccepted(data.pipelineId, data.datasetVersionId, data.sequence);
  }

  /** A version's summaries in object storage (content-addressed: the same summaries, the same URI). */
  private async putSummaries(pipelineId: string, summaries: Uint8Array): Promise<string> {
    const stored = await this.infra.objects.putContentAddressed(
      BUCKETS.reports,
      `${pipelineId}/summaries`,
      asBuffer(summaries),
      { extension: '.json', contentType: 'application/json' },
    );
    return stored.uri;
  }

  /**
   * The stored summaries of the reference and the previous version, a note per baseline for the report, and a warning
   * for each baseline the spec compares with that could not be compared.
   */
  private async baselines(
    spec: PipelineSpec,
    data: Ingested,
    reference: ValidationReference | null,
    previous: ShiftBaselineVersion | null,
  ): Promise<Baselines> {
    const found: Baselines = { stored: [], notes: [], findings: [] };
    const declared = spec.validation.shift;
    for (const against of ['reference', 'previous'] as const) {
      let baseline: ShiftBaselineVersion | null = against === 'previous' ? previous : null;
      let problem: string | undefined;
      try {
        if (against === 'reference' && reference !== null && reference.datasetVersionId !== data.datasetVersionId) {
          ({ baseline, problem } = await this.referenceBaseline(spec, reference));
        }
        if (!baseline) {
          const none =
            against === 'reference' ? 'this version is the reference' : 'no accepted version before this one';
          found.notes.push({ against, datasetVersionId: null, note: none });
          continue;
        }
        problem ??= baseline.summariesUri ? undefined : 'validated before shift was measured: no stored summaries';
        if (!problem) {
          const uri = baseline.summariesUri!;
          const sha256 = sha256InKey(parseObjectUri(uri).key);
          if (!sha256) throw new NonRetryableError(`summaries URI ${uri} names no sha256`, 'invalid-summaries-uri');
          const summaries = await this.infra.objects.getVerified({ uri, sha256 });
          found.stored.push({ against, datasetVersionId: baseline.datasetVersionId, summaries });
          found.notes.push({ against, datasetVersionId: baseline.datasetVersionId, note: 'compared' });
          continue;
        }
      } catch (error) {
        // Undeclared, shift is only reported: a baseline that cannot be read is a note, never a failed validation.
        // Declared, a store that may come back is retried (the outcome must not depend on the moment).
        if (declared && !isPermanent(error)) throw error;
        problem = `its summaries could not be read: ${(error as Error).message}`;
      }
      const datasetVersionId = baseline?.datasetVersionId ?? reference?.datasetVersionId ?? null;
      found.notes.push({ against, datasetVersionId, note: problem });
      if (declared && (declared.against === 'both' || declared.against === against)) {
        found.findings.push({
          check: 'distribution-shift',
          severity: 'warning',
          message: `shift not measured against the ${against} version ${datasetVersionId}: ${problem}`,
        });
      }
    }
    return found;
  }

  /**
   * The reference as a shift baseline. A reference set before shift was measured has no summaries: the first later
   * version computes them once from the reference version's rows (its Parquet, named with its sha256 by its report,
   * read verified) and stores them with the reference. A problem that waiting cannot fix (no report, its dataset
   * gone or unreadable) is returned to be noted; an unreachable store throws, to be retried.
   */
  private async referenceBaseline(
    spec: PipelineSpec,
    reference: ValidationReference,
  ): Promise<{ baseline: ShiftBaselineVersion; problem?: string }> {
    const baseline = { datasetVersionId: reference.datasetVersionId, summariesUri: reference.summariesUri };
    if (baseline.summariesUri) return { baseline };
    const report = await this.repository.report(reference.datasetVersionId);
    if (!report) return { baseline, problem: 'set before shift was measured, and it has no report' };
    try {
      let summariesUri = report.summariesUri;
      if (!summariesUri) {
        const sha256 = sha256InKey(parseObjectUri(report.reportUri).key);
        if (!sha256) return { baseline, problem: `its report ${report.reportUri} names no sha256` };
        const stored = JSON.parse(
          (await this.infra.objects.getVerified({ uri: report.reportUri, sha256 })).toString('utf8'),
        ) as { datasetUri?: string; datasetSha256?: string };
        if (!stored.datasetUri || !stored.datasetSha256) {
          return { baseline, problem: `its report ${report.reportUri} names no dataset` };
        }
        const version = { ...reference, uri: stored.datasetUri, sha256: stored.datasetSha256 };
        const checks = await this.check(spec, version, reference.columns, []);
        summariesUri = await this.putSummaries(reference.pipelineId, checks.summaries);
      }
      baseline.summariesUri = await this.repository.setReferenceSummariesOnce(reference.pipelineId, summariesUri);
      return { baseline };
    } catch (error) {
      if (!isPermanent(error)) throw error;
      return { baseline, problem: `its summaries could not be computed: ${(error as Error).message}` };
    }
  }

  /** Runs the checks on a worker thread, on the version's bytes (sha256-verified) moved there. */
  private async check(
    spec: PipelineSpec,
    data: { pipelineId: string; datasetVersionId: string; uri: string; sha256: string },
    reference: readonly ReferenceColumn[] | undefined,
    baselines: readonly StoredBaseline[],
  ): Promise<DatasetChecks> {
    const dataset = await this.infra.objects.getVerified({ uri: data.uri, sha256: data.sha256 });
    return this.workers.run(
      datasetChecksTask,
      { spec, dataset, uri: data.uri, reference, baselines },
      {
        transferList: movableBuffers(dataset),
        attributes: { [KeelAttr.PIPELINE_ID]: data.pipelineId, [KeelAttr.DATASET_VERSION]: data.datasetVersionId },
      },
    );
  }
}
