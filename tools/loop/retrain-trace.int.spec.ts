/**
 * One retrain is one trace: a drift window's event, the retrain policy's decision, the training request, features,
 * training, the registry's gates and comparison, and the alias move all share the trace id the trigger started, as
 * Jaeger shows it. Four services in one process (monitoring, features, training, registry) with real telemetry.
 */
import {
  DatasetValidatedV1,
  derivedId,
  DriftDetectedV1,
  type EventData,
  FeaturesMaterializedV1,
  ModelAliasChangedV1,
  ModelTrainedV1,
  PipelineSpecV1,
  TrainingRequestedV2,
  WellKnownAlias,
} from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { tableFromRecords, writeParquet } from '@keel/datasets';
import { BUCKETS } from '@keel/storage';
import { startTelemetry, type Telemetry, withSpan } from '@keel/telemetry';
import {
  eventually,
  fetchTrace,
  serviceOf,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featuresEnvSchema } from '../../apps/features/src/config';
import { FeaturesModule } from '../../apps/features/src/features.module';
import { startMonitoringUnderTest } from '../../apps/monitoring/src/test-support/monitoring-under-test';
import { registryEnvSchema } from '../../apps/registry/src/config';
import { RegistryModule } from '../../apps/registry/src/registry.module';
import { trainingEnvSchema } from '../../apps/training/src/config';
import { TrainingModule } from '../../apps/training/src/training.module';

const ROWS = 1_000;
const SERVICE_NAME = 'keel-retrain-trace-int';

/** A pipeline whose retrain policy fires on feature drift; new data after the first version trains only through it. */
const spec = (id: string) =>
  PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id,
    task: 'binary-classification',
    target: { column: 'label', positive: 'yes' },
    features: [
      { name: 'x', type: 'numeric' },
      { name: 'noise', type: 'categorical' },
    ],
    training: { algorithms: ['logistic-regression'], primaryMetric: 'auc', window: { type: 'rows', rows: ROWS } },
    validation: { minRows: 10 },
    retrainPolicy: { triggers: { featureDrift: { minFeatures: 1 } }, cooldown: { rows: 0 } },
  });

/** The label is `x > 0` before the concept flips and `x < 0` after. */
function rows(version: number, flipped: boolean) {
  return Array.from({ length: ROWS }, (_, i) => {
    const x = (((i * 7919 + version * 104_729) % 2_000) - 1_000) / 100 + 0.005;
    return { x, noise: ['a', 'b', 'c'][(i * 31 + version) % 3], label: x > 0 !== flipped ? 'yes' : 'no' };
  });
}

describe('one trace per retrain', () => {
  const pipelineId = uniquePipelineId('trace-loop');
  const database = `keel_it_trace_${pipelineId.replace(/\W/g, '_')}`;
  let telemetry: Telemetry;
  let features: ServiceUnderTest;
  let training: ServiceUnderTest;
  let registry: ServiceUnderTest;
  let monitoring: ServiceUnderTest;
  let previous: EventData<typeof DatasetValidatedV1> | undefined;

  async function validatedVersion(sequence: number, flipped: boolean): Promise<void> {
    const table = tableFromRecords(rows(sequence, flipped), [
      { name: 'x', type: 'number' },
      { name: 'noise', type: 'string' },
      { name: 'label', type: 'string' },
    ]);
    const stored = await features.infra.objects.putContentAddressed(BUCKETS.datasets, pipelineId, writeParquet(table), {
      extension: '.parquet',
    });
    const data = DatasetValidatedV1.schema.parse({
      pipelineId,
      datasetVersionId: derivedId('ds', [pipelineId, stored.sha256]),
      datasetUri: stored.uri,
      datasetSha256: stored.sha256,
      reportUri: `s3://${BUCKETS.reports}/${pipelineId}/report-${sequence}.json`,
      warnings: [],
      sequence,
      rowCount: ROWS,
      ...(previous ? { parentVersionId: previous.datasetVersionId } : {}),
    });
    await features.infra.publisher.publish(DatasetValidatedV1, data, { id: uniqueName('validated') });
    previous = data;
  }

  const champion = async () => {
    const response = await request(registry.app.getHttpServer()).get(
      `/api/v1/models/${pipelineId}/aliases/${WellKnownAlias.CHAMPION}`,
    );
    return response.status === 200 ? (response.body as { version: number }).version : 0;
  };

  beforeAll(async () => {
    telemetry = startTelemetry(SERVICE_NAME);
    const shared = { database, env: { WORKER_THREADS: '1' }, telemetry, pipelines: [spec(pipelineId)] };
    registry = await startServiceUnderTest({
      ...shared,
      service: 'registry',
      envSchema: registryEnvSchema,
      features: [RegistryModule],
      consumers: { models: [ModelTrainedV1] },
      record: { topics: [ModelAliasChangedV1.topic, TrainingRequestedV2.topic], keep: (e) => e.key === pipelineId },
    });
    training = await startServiceUnderTest({
      ...shared,
      service: 'training',
      envSchema: trainingEnvSchema,
      features: [TrainingModule],
      consumers: { features: [FeaturesMaterializedV1] },
    });
    features = await startServiceUnderTest({
      ...shared,
      service: 'features',
      envSchema: featuresEnvSchema,
      features: [FeaturesModule],
      consumers: { datasets: [DatasetValidatedV1], 'training-requests': [TrainingRequestedV2] },
    });
    monitoring = await startMonitoringUnderTest({
      database,
      telemetry,
      locator: {
        locate: async () => {
          throw new NonRetryableError('no packages in this test', 'no-package');
        },
      },
    });
  }, 180_000);

  afterAll(async () => {
    await Promise.all([monitoring?.close(), features?.close(), training?.close(), registry?.close()]);
    await telemetry?.shutdown();
  });

  it('follows a drift-triggered retrain from the drift event to the alias move in one Jaeger trace', async () => {
    // given a champion trained on the first version, and a second version whose concept flipped (with a retrain
    // policy, new data alone does not train)
    await validatedVersion(1, false);
    await eventually('champion v1', async () => ((await champion()) === 1 ? true : undefined), { timeoutMs: 180_000 });
    await validatedVersion(2, true);

    // when a drift window of v1 closes (the trigger, in a trace of its own)
    const traceId = await withSpan('drift window closes (test)', {}, async (span) => {
      await monitoring.infra.publisher.publish(
        DriftDetectedV1,
        {
          pipelineId: spec(pipelineId).id,
          modelName: pipelineId,
          modelVersion: 1,
          windowStart: new Date(Date.now() - 60_000).toISOString(),
          windowEnd: new Date().toISOString(),
          rowCount: 500,
          drifted: [{ feature: 'x', statistic: 'psi', value: 0.9, threshold: 0.2 }],
        },
        { id: uniqueName('drift') },
      );
      return span.spanContext().traceId;
    });

    // then the policy fires, a new model is trained and becomes champion
    await eventually('champion v2', async () => ((await champion()) === 2 ? true : undefined), { timeoutMs: 180_000 });
    const request = registry.recorder.eventsOf(TrainingRequestedV2).find((e) => e.data.pipelineId === pipelineId)!;
    expect(request.data).toMatchObject({ reason: 'feature-drift', requestId: `${pipelineId}:policy:1` });
    expect(request.headers.traceparent?.split('-')[1]).toBe(traceId);
    const move = registry.recorder
      .eventsOf(ModelAliasChangedV1)
      .find((e) => (e.data as { version?: number }).version === 2)!;
    expect(move.headers.traceparent?.split('-')[1]).toBe(traceId);

    // and Jaeger holds every step in that one trace
    const expected = [
      'retrain policy decide',
      'load datasets',
      'store feature set',
      'load feature set',
      'register model version',
      'compare with champion',
      'move alias',
    ];
    const trace = await eventually(
      'the whole retrain in Jaeger',
      async () => {
        const found = await fetchTrace(traceId);
        const names = new Set(found?.spans.map((span) => span.operationName));
        return found && expected.every((name) => names.has(name)) ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    expect(new Set(trace.spans.map((span) => serviceOf(trace, span)))).toEqual(new Set([SERVICE_NAME]));
    expect(trace.spans.every((span) => span.traceID === traceId)).toBe(true);
    const decide = trace.spans.find((span) => span.operationName === 'retrain policy decide')!;
    expect(decide.tags).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'keel.retrain.outcome', value: 'fired' }),
        expect.objectContaining({ key: 'keel.training_request.id', value: `${pipelineId}:policy:1` }),
      ]),
    );
  }, 420_000);
});
