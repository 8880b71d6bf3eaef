import { DatasetIngestedV1, DatasetRejectedV1, DatasetValidatedV1, type EventData } from '@keel/contracts';
import { type DatasetTable, writeParquet } from '@keel/datasets';
import { BUCKETS } from '@keel/storage';
import { datasetIngestedData, EventHandlerHarness, fixtureTable, pipelineSpecFixture } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { datasetChecksTask } from '../checks/validation.task';
import { ValidationConsumer } from './validation.consumer';
import {
  type ShiftBaselineVersion,
  type ValidationReference,
  type ValidationReport,
  type ValidationRepository,
} from './validation.repository';
import { ParentNotValidatedError, ValidationService, validationEventId } from './validation.service';

/** The repository's contract in memory: the first reference of a pipeline wins, one report per version. */
class InMemoryValidationRepository {
  private readonly references = new Map<string, ValidationReference>();
  constructor(private readonly harness: EventHandlerHarness) {}

  async reference(pipelineId: string): Promise<ValidationReference | null> {
    return this.references.get(pipelineId) ?? null;
  }

  async setReferenceOnce(reference: ValidationReference): Promise<ValidationReference> {
    if (!this.references.has(reference.pipelineId)) {
      this.references.set(reference.pipelineId, reference);
      this.harness.recordWrite('validation_references', reference.pipelineId, reference);
    }
    return this.references.get(reference.pipelineId)!;
  }

  async setReferenceSummariesOnce(pipelineId: string, summariesUri: string): Promise<string> {
    const reference = this.references.get(pipelineId)!;
    reference.summariesUri ??= summariesUri;
    this.harness.recordWrite('validation_references', pipelineId, reference);
    return reference.summariesUri;
  }

  /** As a pipeline validated before shift was measured: no summaries on its reference or its reports. */
  forgetSummaries(): void {
    for (const reference of this.references.values()) delete reference.summariesUri;
    for (const report of this.reports.values()) delete report.summariesUri;
  }

  /** Makes the next saveReport fail, as a validation dying after it set the reference. */
  failNextSave = false;

  private readonly reports = new Map<string, ValidationReport>();
  async saveReport(report: ValidationReport): Promise<void> {
    if (this.failNextSave) {
      this.failNextSave = false;
      throw new Error('validation died before saving its report');
    }
    const before = this.reports.get(report.datasetVersionId);
    // As Mongo's upsert: creation time and previous version kept from the first save.
    const saved = before
      ? { ...report, createdAt: before.createdAt, previousVersionId: before.previousVersionId }
      : report;
    this.reports.set(report.datasetVersionId, saved);
    this.harness.recordWrite('validation_reports', report.datasetVersionId, saved);
  }
  async report(datasetVersionId: string): Promise<ValidationReport | null> {
    return this.reports.get(datasetVersionId) ?? null;
  }
  async previousAccepted(
    pipelineId: string,
    datasetVersionId: string,
    sequence: number | undefined,
  ): Promise<ShiftBaselineVersion | null> {
    const [previous] = [...this.reports.values()]
      .filter((r) => r.pipelineId === pipelineId && r.passed && r.datasetVersionId !== datasetVersionId)
      .filter((r) => sequence === undefined || (r.sequence !== undefined && r.sequence < sequence))
      .sort((a, b) => (sequence === undefined ? +b.createdAt - +a.createdAt : b.sequence! - a.sequence!));
    return previous ? { datasetVersionId: previous.datasetVersionId, summariesUri: previous.summariesUri } : null;
  }
}

const spec = pipelineSpecFixture('adult-income', { id: 'adult-unit' });
type Ingested = EventData<typeof DatasetIngestedV1>;

const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));

// The checks run on a worker thread; on a busy machine that can take longer than the default five seconds.
describe('validation consumer, handled in memory', { timeout: 60_000 }, () => {
  const workers = new WorkerPool({ threads: 1 });
  beforeAll(() => workers.warm(datasetChecksTask), 120_000);
  afterAll(() => workers.close());
  let harness: EventHandlerHarness;
  let repository: InMemoryValidationRepository;
  let service: ValidationService;

  /** Stores a table as a dataset version of the spec's pipeline and returns the event announcing it. */
  async function version(table: DatasetTable): Promise<EventData<typeof DatasetIngestedV1>> {
    const stored = harness.objects.seed(BUCKETS.datasets, spec.id, writeParquet(table), {
      extension: '.parquet',
    });
    return datasetIngestedData(spec.id, stored, table);
  }

  /** The last validation report written to object storage (summaries are written there too, under summaries/). */
  function reportObject(): { value: unknown } {
    return harness.writes.findLast(
      (write) => write.target === `object:${BUCKETS.reports}` && !write.key.includes('/summaries/'),
    )!;
  }

  beforeEach(async () => {
    harness = new EventHandlerHarness({ service: 'validation' });
    await harness.pipelines.apply(spec);
    repository = new InMemoryValidationRepository(harness);
    service = new ValidationService(harness.infrastructure, repository as unknown as ValidationRepository, workers);
    await new ValidationConsumer(harness.infrastructure, service).onApplicationBootstrap();
  });

  it('given a good first version, when handled, then it sets the reference, writes the report and passes it', async () => {
    const ingested = await version(fixtureTable('adult', spec, { count: 200 }));

    expect(await harness.deliver(DatasetIngestedV1, ingested)).toBe('handled');

    const [validated] = harness.published(DatasetValidatedV1);
    expect(validated.id).toBe(validationEventId('validated', ingested.datasetVersionId, 1));
    expect(validated.key).toBe(spec.id);
    expect(validated.data).toMatchObject({
      pipelineId: spec.id,
      datasetVersionId: ingested.datasetVersionId,
      datasetUri: ingested.uri,
      datasetSha256: ingested.sha256,
    });
    // The summaries first: the reference carries them from the moment it is set.
    expect(harness.writes.map((write) => write.target)).toEqual([
      `object:${BUCKETS.reports}`,
      'validation_references',
      `object:${BUCKETS.reports}`,
      'validation_reports',
    ]);
    expect(harness.writes[0].key).toMatch(new RegExp(`^${spec.id}/summaries/`));
    expect(harness.writes[1].value).toMatchObject({ summariesUri: expect.stringContaining('/summaries/') });
    expect(harness.writes[3].value).toMatchObject({
      passed: true,
      reportUri: validated.data.reportUri,
      previousVersionId: null,
      shift: { referenceVersionId: null, previousVersionId: null, columns: [] },
    });
    // No validation.shift in the spec: nothing in the event.
    expect(validated.data.shift).toBeUndefined();
    expect(harness.published(DatasetRejectedV1)).toEqual([]);
  });

  it('given the same version again under a changed spec, when handled, then a new outcome; under the same spec, the same one', async () => {
    const ingested = await version(fixtureTable('adult', spec, { count: 200 }));
    await harness.deliver(DatasetIngestedV1, ingested, { id: 'ingested-1' });
    await harness.deliver(DatasetIngestedV1, ingested, { id: 'ingested-2' });
    await harness.pipelines.apply({ ...spec, description: 'changed' });
    await harness.deliver(DatasetIngestedV1, ingested, { id: 'ingested-3' });

    const ids = harness.published(DatasetValidatedV1).map((event) => event.id);
    expect(ids).toEqual([ids[0], ids[0], validationEventId('validated', ingested.datasetVersionId, 2)]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it('given a later version with a mistyped column, when handled, then it is rejected naming the column', async () => {
    await harness.deliver(DatasetIngestedV1, await version(fixtureTable('adult', spec, { count: 200 })));
    const table = fixtureTable('adult', spec, { count: 200, from: 1_000 });
    const age = table.columns.find((c) => c.name === 'age')!;
    age.type = 'string';
    age.values = age.values.map((v) => (v === null ? null : String(v)));
    const ingested = await version(table);

    expect(await harness.deliver(DatasetIngestedV1, ingested)).toBe('handled');

    const [rejected] = harness.published(DatasetRejectedV1);
    expect(rejected.id).toBe(validationEventId('rejected', ingested.datasetVersionId, 1));
    expect(rejected.data.failures).toEqual(
      expect.arrayContaining([expect.objectContaining({ check: 'column-type', column: 'age', severity: 'error' })]),
    );
    expect(harness.published(DatasetValidatedV1)).toHaveLength(1);
  });

  it('given Adult and a sex bias check it cannot pass, when handled, then it is rejected with the gap and the report holds every attribute’s bias', async () => {
    // Adult's labels: about 31% of men and 11% of women earn >50K, a difference in proportions of about 0.2.
    await harness.pipelines.apply({
      ...spec,
      validation: {
        ...spec.validation,
        bias: [{ attribute: 'sex', metric: 'difference_in_proportions_of_labels', warn: 0.05, reject: 0.1 }],
      },
    });
    const ingested = await version(fixtureTable('adult', spec, { count: 1_000 }));

    expect(await harness.deliver(DatasetIngestedV1, ingested)).toBe('handled');

    const [rejected] = harness.published(DatasetRejectedV1);
    const failures = rejected.data.failures.filter((finding) => finding.check === 'pre-training-bias');
    expect(failures.map((finding) => finding.message)).toEqual([
      expect.stringMatching(
        /^sex=Female \(n=\d+ of 1000\): difference_in_proportions_of_labels 0\.\d+, .* reject threshold 0\.1$/,
      ),
      expect.stringMatching(
        /^sex=Male \(n=\d+ of 1000\): difference_in_proportions_of_labels -0\.\d+, .* reject threshold 0\.1$/,
      ),
    ]);
    const stored = reportObject();
    const report = JSON.parse(Buffer.from(stored.value as Uint8Array).toString('utf8')) as {
      bias: { attribute: string; facets: { facet: string; metrics: Record<string, number> }[] }[];
    };
    expect(report.bias.map((attribute) => attribute.attribute)).toEqual(['sex', 'race']);
    const [female, male] = report.bias[0].facets;
    expect(female.metrics.difference_in_proportions_of_labels).toBeGreaterThan(0.1);
    expect(male.metrics.difference_in_proportions_of_labels).toBeCloseTo(
      -female.metrics.difference_in_proportions_of_labels,
      12,
    );
    expect(Object.keys(female.metrics).sort()).toEqual([
      'class_imbalance',
      'difference_in_proportions_of_labels',
      'js_divergence',
      'kl_divergence',
      'kolmogorov_smirnov',
      'lp_norm',
      'representation_change',
      'total_variation_distance',
    ]);
  });

  describe('distribution shift', () => {
    const shiftSpec = {
      ...spec,
      validation: {
        ...spec.validation,
        shift: {
          against: 'both' as const,
          action: 'reject' as const,
          numeric: { statistic: 'wasserstein' as const, threshold: 0.3 },
          categorical: { statistic: 'jensen-shannon' as const, threshold: 0.2 },
          columns: {},
        },
      },
    };
    /** Version `sequence` of the pipeline, `hours` added to everyone's hours_per_week. */
    async function sequenced(from: number, sequence: number, hours = 0, parent?: { datasetVersionId: string }) {
      const table = fixtureTable('adult', spec, { count: 300, from });
      const column = table.columns.find((c) => c.name === 'hours_per_week')!;
      column.values = column.values.map((v) => (typeof v === 'number' ? v + hours : v));
      const ingested = { ...(await version(table)), sequence };
      return parent
        ? { ...ingested, parentVersionId: parent.datasetVersionId as Ingested['parentVersionId'] }
        : ingested;
    }

    beforeEach(() => harness.pipelines.apply(shiftSpec));

    it('given a similar version after the first, when handled, then it passes compared with both, and a shifted one is rejected naming column, statistic, value and threshold', async () => {
      const v1 = await sequenced(0, 1);
      const v2 = await sequenced(1_000, 2);
      const v3 = await sequenced(2_000, 3, 20);
      for (const v of [v1, v2, v3]) expect(await harness.deliver(DatasetIngestedV1, v)).toBe('handled');
      const validated = harness.published(DatasetValidatedV1);
      expect(validated.map((e) => e.data.datasetVersionId)).toEqual([v1.datasetVersionId, v2.datasetVersionId]);
      expect(validated[0].data.shift).toEqual({ shifted: [] });
      expect(validated[1].data.shift).toEqual({
        referenceVersionId: v1.datasetVersionId,
        previousVersionId: v1.datasetVersionId,
        shifted: [],
      });
      const [rejected] = harness.published(DatasetRejectedV1);
      expect(rejected.data.datasetVersionId).toBe(v3.datasetVersionId);
      expect(rejected.data.shift?.previousVersionId).toBe(v2.datasetVersionId);
      expect(rejected.data.shift?.shifted).toEqual([
        expect.objectContaining({ column: 'hours_per_week', against: 'reference', statistic: 'wasserstein' }),
        expect.objectContaining({ column: 'hours_per_week', against: 'previous', action: 'reject', threshold: 0.3 }),
      ]);
      expect(rejected.data.failures.map((f) => f.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^hours_per_week shifted against the reference version ${v1.datasetVersionId}: wasserstein 1\\.\\d+, at or above the reject threshold 0\\.3$`,
          ),
        ),
        expect.stringMatching(/^hours_per_week shifted against the previous version ds-[0-9a-f]+: wasserstein 1\.\d+/),
      ]);
      const report = JSON.parse(Buffer.from(reportObject().value as Uint8Array).toString('utf8')) as {
        shift: { baselines: { against: string; note: string }[]; comparisons: { columns: unknown[] }[] };
      };
      expect(report.shift.baselines.map((b) => b.note)).toEqual(['compared', 'compared']);
      const span = spans.getFinishedSpans().findLast((s) => s.name === 'validate dataset version')!;
      expect(span.attributes).toMatchObject({
        'keel.validation.passed': false,
        'keel.validation.shift.reference_version': v1.datasetVersionId,
        'keel.validation.shift.previous_version': v2.datasetVersionId,
        'keel.validation.shift.rejected_columns': 2,
      });
      expect(span.attributes['keel.validation.shift.shifted_columns']).toMatch(
        /^hours_per_week\/reference\/wasserstein=1\.\d+,hours_per_week\/previous\/wasserstein=1\.\d+$/,
      );
      expect(report.shift.comparisons[1].columns).toHaveLength(15);
    });

    it('given a version after a rejected one, when handled, then its previous is the last accepted one, and a redelivery keeps it', async () => {
      const v1 = await sequenced(0, 1);
      const v2 = await sequenced(1_000, 2, 20);
      const v3 = await sequenced(2_000, 3);
      for (const v of [v1, v2, v3]) await harness.deliver(DatasetIngestedV1, v);
      const [, validated] = harness.published(DatasetValidatedV1);
      expect(validated.data.shift?.previousVersionId).toBe(v1.datasetVersionId);
      // A fourth version accepted, then v3 redelivered under the same spec: the same previous, the same event id.
      await harness.deliver(DatasetIngestedV1, await sequenced(3_000, 4));
      await harness.deliver(DatasetIngestedV1, v3, { id: 'v3-again' });
      const again = harness.published(DatasetValidatedV1).at(-1)!;
      expect(again.id).toBe(validated.id);
      expect(again.data.shift?.previousVersionId).toBe(v1.datasetVersionId);
    });

    it('given the reference set but its validation dead before its report, when a shifted version is handled, then it is compared with the reference and rejected (review s25 #4)', async () => {
      await harness.pipelines.apply({
        ...shiftSpec,
        validation: { ...shiftSpec.validation, shift: { ...shiftSpec.validation.shift, against: 'reference' } },
      });
      const v1 = await sequenced(0, 1);
      repository.failNextSave = true;
      await expect(service.validate(v1)).rejects.toThrow('validation died before saving its report');
      expect(await repository.report(v1.datasetVersionId)).toBeNull();

      expect(await harness.deliver(DatasetIngestedV1, await sequenced(1_000, 2, 20))).toBe('handled');

      const [rejected] = harness.published(DatasetRejectedV1);
      expect(rejected.data.shift).toMatchObject({ referenceVersionId: v1.datasetVersionId });
      expect(rejected.data.failures).toEqual([
        expect.objectContaining({ check: 'distribution-shift', column: 'hours_per_week', severity: 'error' }),
      ]);
    });

    it('given a reference from before shift was measured, when a shifted version is handled, then the reference’s summaries are computed from its rows once and it is rejected (review s25 #3)', async () => {
      const v1 = await sequenced(0, 1);
      await harness.deliver(DatasetIngestedV1, v1);
      repository.forgetSummaries();

      expect(await harness.deliver(DatasetIngestedV1, await sequenced(1_000, 2, 20))).toBe('handled');

      const [rejected] = harness.published(DatasetRejectedV1);
      expect(rejected.data.shift?.referenceVersionId).toBe(v1.datasetVersionId);
      expect(rejected.data.failures.map((f) => [f.column, f.message.split(':')[0]])).toEqual([
        ['hours_per_week', `hours_per_week shifted against the reference version ${v1.datasetVersionId}`],
      ]);
      const reference = await repository.reference(spec.id);
      expect(reference?.summariesUri).toMatch(/\/summaries\//);
    });

    it('given a reference from before shift whose rows are gone, when a version is handled, then it warns that the reference was not compared', async () => {
      const v1 = await sequenced(0, 1);
      await harness.deliver(DatasetIngestedV1, v1);
      repository.forgetSummaries();
      harness.objects.corrupt(v1.uri, Buffer.from('gone'));

      expect(await harness.deliver(DatasetIngestedV1, await sequenced(1_000, 2))).toBe('handled');

      const [, validated] = harness.published(DatasetValidatedV1);
      expect(validated.data.warnings).toContainEqual(
        expect.objectContaining({
          check: 'distribution-shift',
          severity: 'warning',
          message: expect.stringMatching(
            new RegExp(
              `^shift not measured against the reference version ${v1.datasetVersionId}: its summaries could not be computed`,
            ),
          ),
        }),
      );
    });

    it('given version 3 validated before its parent 2 has a report, when handled, then it waits for 2 and is compared with it (review s25 #5)', async () => {
      const v1 = await sequenced(0, 1);
      const v2 = await sequenced(1_000, 2, 0, v1);
      const v3 = await sequenced(2_000, 3, 0, v2);
      await harness.deliver(DatasetIngestedV1, v1);

      await expect(service.validate(v3)).rejects.toThrow(ParentNotValidatedError);
      expect(await repository.report(v3.datasetVersionId)).toBeNull();
      await harness.deliver(DatasetIngestedV1, v2);
      await harness.deliver(DatasetIngestedV1, v3);

      const validated = harness.published(DatasetValidatedV1).at(-1)!;
      expect(validated.data.datasetVersionId).toBe(v3.datasetVersionId);
      expect(validated.data.shift?.previousVersionId).toBe(v2.datasetVersionId);
    });

    it('given a parent that never gets a report, when the wait is over, then the version is compared with the last accepted one', async () => {
      const v1 = await sequenced(0, 1);
      const v2 = await sequenced(1_000, 2, 0, v1);
      const v3 = await sequenced(2_000, 3, 0, v2);
      await harness.deliver(DatasetIngestedV1, v1);
      service.parentWaitMs = 0;

      expect(await harness.deliver(DatasetIngestedV1, v3)).toBe('handled');

      expect(harness.published(DatasetValidatedV1).at(-1)!.data.shift?.previousVersionId).toBe(v1.datasetVersionId);
    });

    it('given action warn, when a shifted version is handled, then it passes with the shift among its warnings', async () => {
      await harness.pipelines.apply({
        ...shiftSpec,
        validation: {
          ...shiftSpec.validation,
          shift: { ...shiftSpec.validation.shift, action: 'warn', against: 'previous' },
        },
      });
      await harness.deliver(DatasetIngestedV1, await sequenced(0, 1));
      await harness.deliver(DatasetIngestedV1, await sequenced(1_000, 2, 20));
      const [, validated] = harness.published(DatasetValidatedV1);
      expect(validated.data.shift?.referenceVersionId).toBeUndefined();
      expect(validated.data.warnings.filter((w) => w.check === 'distribution-shift')).toEqual([
        expect.objectContaining({ column: 'hours_per_week', severity: 'warning' }),
      ]);
    });
  });

  it('given no validation.shift and a baseline whose summaries cannot be read, when handled, then it passes with a note (review s25 #13)', async () => {
    const v1 = await version(fixtureTable('adult', spec, { count: 200 }));
    await harness.deliver(DatasetIngestedV1, v1);
    const { summariesUri } = (await repository.report(v1.datasetVersionId))!;
    harness.objects.corrupt(summariesUri!, Buffer.from('not the summaries'));
    const v2 = await version(fixtureTable('adult', spec, { count: 200, from: 1_000 }));

    expect(await harness.deliver(DatasetIngestedV1, v2)).toBe('handled');

    expect(harness.published(DatasetValidatedV1).map((e) => e.data.datasetVersionId)).toEqual([
      v1.datasetVersionId,
      v2.datasetVersionId,
    ]);
    const report = JSON.parse(Buffer.from(reportObject().value as Uint8Array).toString('utf8')) as {
      findings: { check: string }[];
      shift: { baselines: { against: string; note: string }[] };
    };
    expect(report.shift.baselines.map((b) => [b.against, b.note.split(':')[0]])).toEqual([
      ['reference', 'its summaries could not be read'],
      ['previous', 'its summaries could not be read'],
    ]);
    expect(report.findings.filter((f) => f.check === 'distribution-shift')).toEqual([]);
  });

  it('given the same event twice, when handled, then it is validated and announced once', async () => {
    const ingested = await version(fixtureTable('adult', spec, { count: 200 }));

    expect(await harness.deliver(DatasetIngestedV1, ingested, { id: 'ingested-once' })).toBe('handled');
    expect(await harness.deliver(DatasetIngestedV1, ingested, { id: 'ingested-once' })).toBe('duplicate');

    expect(harness.published(DatasetValidatedV1)).toHaveLength(1);
  });

  it('given bytes that do not match the announced sha256, when handled, then it is dead-lettered at once', async () => {
    const ingested = await version(fixtureTable('adult', spec, { count: 50 }));
    harness.objects.corrupt(ingested.uri, Buffer.from('not the dataset'));

    expect(await harness.deliver(DatasetIngestedV1, ingested)).toBe('dead-lettered');

    const [dead] = harness.deadLetters(DatasetIngestedV1);
    expect(dead.headers).toMatchObject({
      dlq_error_code: 'object-integrity',
      dlq_attempts: '1',
      dlq_consumer: 'validation.datasets',
    });
    expect(dead.data).toMatchObject({ datasetVersionId: ingested.datasetVersionId });
    expect(harness.sent.map((event) => event.topic)).toEqual([`${DatasetIngestedV1.topic}.dlq`]);
  });

  it('given a version of a pipeline never applied, when handled, then it is dead-lettered naming the pipeline', async () => {
    const ingested = { ...(await version(fixtureTable('adult', spec, { count: 10 }))) };
    ingested.pipelineId = 'nobody' as typeof ingested.pipelineId;

    expect(await harness.deliver(DatasetIngestedV1, ingested)).toBe('dead-lettered');

    const [dead] = harness.deadLetters(DatasetIngestedV1);
    expect(dead.headers.dlq_error_code).toBe('unknown-pipeline');
    expect(dead.headers.dlq_reason).toContain('unknown pipeline "nobody"');
    expect(harness.writes).toEqual([]);
  });
});
