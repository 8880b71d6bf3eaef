/**
 * Alerts and the retrain policy on the real stack: a webhook receiver in the test gets each alert once, signed, even
 * when the alert is raised twice and the receiver fails the first attempt; the policy fires on drift, holds its
 * cooldown (counted in rows of new data) and fires again once the rows have come. A labelled window below the
 * policy's accuracy bound and a training run that failed for good each reach the receiver once, signed, and the
 * window's retrain is held by the cooldown.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import {
  AlertRaisedV1,
  DatasetValidatedV1,
  derivedId,
  DriftDetectedV1,
  type EventData,
  LabelWindowClosedV1,
  ModelRolloutTransitionedV1,
  type PipelineSpecV1,
  TrainingFailedV1,
  TrainingRequestedV2,
} from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { startTelemetry, type Telemetry } from '@keel/telemetry';
import {
  eventually,
  pipelineSpecFixture,
  type ServiceUnderTest,
  TopicRecorder,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMonitoringUnderTest } from '../test-support/monitoring-under-test';
import { ALERT_KEY_HEADER, SIGNATURE_HEADER, verifyWebhookSignature } from './webhook-signature';

const SECRET = `int-test-secret-${'x'.repeat(32)}`;

interface Received {
  body: string;
  headers: IncomingHttpHeaders;
  alert: EventData<typeof AlertRaisedV1>;
}

describe('alerts and the retrain policy', () => {
  const pipelineId = uniquePipelineId('alerts-int');
  let spec: PipelineSpecV1;
  let service: ServiceUnderTest;
  let recorder: TopicRecorder;
  let receiver: Server;
  let telemetry: Telemetry;
  const received: Received[] = [];
  let failNext = 1;

  const alertsOf = (kind: string) => received.filter((r) => r.alert.kind === kind);
  const decisions = async () =>
    (await request(service.app.getHttpServer()).get(`/api/v1/pipelines/${pipelineId}/retrain-decisions`).expect(200))
      .body as { decisions: { sequence: number; outcome: string; reason: string; why: string; requestId?: string }[] };

  const drift = (windowEnd: string): EventData<typeof DriftDetectedV1> => ({
    pipelineId: spec.id,
    modelName: pipelineId,
    modelVersion: 1,
    windowStart: '2026-01-01T00:00:00.000Z',
    windowEnd,
    rowCount: 500,
    drifted: [{ feature: 'age', statistic: 'psi', value: 0.61, threshold: 0.2 }],
  });

  /** Waits for the alert with this key: alerts of one pipeline and topic arrive in the order of their events. */
  const arrived = (key: string) =>
    eventually(`alert ${key}`, async () => (received.some((r) => r.alert.alertKey === key) ? true : undefined));

  beforeAll(async () => {
    // Real tracing, so an alert carries the trace id of the event that raised it.
    telemetry = startTelemetry('keel-alerts-int');
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const alert = JSON.parse(body) as Received['alert'];
        if (alert.pipelineId !== pipelineId) {
          // The service under test also consumes what earlier runs left on the topics (training failures, rollbacks
          // of their pipelines) and alerts on them: accepted, not this test's business.
          res.writeHead(204).end();
          return;
        }
        if (failNext > 0) {
          // The first delivery fails: the alert must come again, once.
          failNext -= 1;
          res.writeHead(503).end();
          return;
        }
        received.push({ body, headers: req.headers, alert });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;

    spec = pipelineSpecFixture('adult-income', {
      id: pipelineId,
      retrainPolicy: {
        triggers: {
          featureDrift: { enabled: true, minFeatures: 1 },
          predictionDrift: { enabled: true },
          performanceDrop: { metric: 'accuracy', below: 0.8, minRows: 100 },
          conceptDrift: { enabled: false },
        },
        cooldown: { rows: 1_000 },
        dailyCap: { max: 5, dayRows: 10_000 },
      },
    } as Partial<PipelineSpecV1> & { id: string });
    service = await startMonitoringUnderTest({
      database: 'keel_monitoring_alerts_int',
      telemetry,
      env: {
        ALERT_WEBHOOK_URLS: `http://127.0.0.1:${port}/keel-alerts`,
        ALERT_WEBHOOK_SECRET: SECRET,
        ALERT_WEBHOOK_MAX_ATTEMPTS: '3',
      },
      locator: {
        locate: async () => {
          throw new NonRetryableError('no packages in this test', 'no-package');
        },
      },
    });
    await service.infra.pipelines.apply(spec);
    recorder = await TopicRecorder.start({
      topics: [TrainingRequestedV2.topic, AlertRaisedV1.topic],
      keep: (event) => event.key === pipelineId,
    });
  });

  afterAll(async () => {
    await recorder?.stop();
    await service?.close();
    await new Promise((resolve) => receiver?.close(resolve));
    await telemetry?.shutdown();
  });

  it('delivers one signed alert for a drift window raised twice, after a failed first attempt', async () => {
    // the same window twice (a re-evaluation), under two CloudEvent ids, then a later window
    await service.infra.publisher.publish(DriftDetectedV1, drift('2026-01-01T01:00:00.000Z'), {
      id: uniqueName('drift'),
    });
    await service.infra.publisher.publish(DriftDetectedV1, drift('2026-01-01T01:00:00.000Z'), {
      id: uniqueName('drift'),
    });
    await service.infra.publisher.publish(DriftDetectedV1, drift('2026-01-01T02:00:00.000Z'), {
      id: uniqueName('drift'),
    });
    await arrived(`${pipelineId}:feature-drift:v1:2026-01-01T02:00:00.000Z`);

    const [alert, ...more] = alertsOf('feature-drift');
    expect(more.map((r) => r.alert.alertKey)).toEqual([`${pipelineId}:feature-drift:v1:2026-01-01T02:00:00.000Z`]);
    expect(verifyWebhookSignature(alert.body, alert.headers[SIGNATURE_HEADER] as string, SECRET)).toBe(true);
    expect(alert.headers[ALERT_KEY_HEADER]).toBe(`${pipelineId}:feature-drift:v1:2026-01-01T01:00:00.000Z`);
    expect(alert.alert).toMatchObject({
      kind: 'feature-drift',
      severity: 'critical',
      pipelineId,
      modelName: pipelineId,
      modelVersion: 1,
      details: { features: 'age', drifted: 1, rows: 500 },
    });
    expect(alert.alert.traceId).toMatch(/^[0-9a-f]{32}$/);
    // and the topic carries it too
    expect(recorder.eventsOf(AlertRaisedV1).some((e) => e.data.kind === 'feature-drift')).toBe(true);

    // and the policy fired on the first window (once, whatever the redelivery) and held the second in its cooldown
    const made = await eventually('two decisions', async () => {
      const found = (await decisions()).decisions;
      return found.length === 2 ? found : undefined;
    });
    expect(made.map((d) => [d.sequence, d.outcome, d.reason])).toEqual([
      [2, 'suppressed', 'feature-drift'],
      [1, 'fired', 'feature-drift'],
    ]);
    expect(made[0].why).toContain('cooldown: 0 of 1000 rows since retrain #1');
    const requests = await eventually('the training request', async () => {
      const found = recorder.eventsOf(TrainingRequestedV2);
      return found.length > 0 ? found : undefined;
    });
    // (a redelivered signal republishes its decision's request under the same event id: one request to training)
    expect(new Set(requests.map((e) => `${e.id} ${e.data.requestId} ${e.data.reason}`))).toEqual(
      new Set([`retrain-${pipelineId}:policy:1 ${pipelineId}:policy:1 feature-drift`]),
    );
  });

  it('fires again once the cooldown rows of new data have arrived', async () => {
    // 1,000 rows of new data arrive, then another poor window
    await service.infra.publisher.publish(
      DatasetValidatedV1,
      DatasetValidatedV1.schema.parse({
        pipelineId,
        datasetVersionId: derivedId('ds', [pipelineId, 'new-data']),
        datasetUri: `s3://keel-datasets/${pipelineId}/new.parquet`,
        datasetSha256: 'a'.repeat(64),
        reportUri: `s3://keel-reports/${pipelineId}/new.json`,
        warnings: [],
        sequence: 2,
        rowCount: 1_000,
      }),
    );
    const before = (await decisions()).decisions.length;
    await service.infra.publisher.publish(DriftDetectedV1, drift('2026-01-02T00:00:00.000Z'), {
      id: uniqueName('drift'),
    });
    const latest = await eventually('one more decision', async () => {
      const found = (await decisions()).decisions;
      return found.length === before + 1 ? found[0] : undefined;
    });
    expect(latest).toMatchObject({ outcome: 'fired', requestId: `${pipelineId}:policy:${latest.sequence}` });
    const policy = (
      await request(service.app.getHttpServer()).get(`/api/v1/pipelines/${pipelineId}/retrain-policy`).expect(200)
    ).body as { clock: { rows: number }; lastFired: { sequence: number; rows: number } };
    expect(policy.clock.rows).toBe(1_000);
    expect(policy.lastFired).toMatchObject({ sequence: latest.sequence, rows: 1_000 });
    await eventually('the second training request', async () =>
      new Set(recorder.eventsOf(TrainingRequestedV2).map((e) => e.data.requestId)).size === 2 ? true : undefined,
    );
  });

  it('delivers one signed alert for a performance drop published twice, and the cooldown holds its retrain', async () => {
    const window: EventData<typeof LabelWindowClosedV1> = {
      pipelineId: spec.id,
      modelName: pipelineId,
      modelVersion: 2,
      task: 'binary-classification',
      windowIndex: 3,
      labelledCount: 200,
      firstServedAt: '2026-01-03T00:00:00.000Z',
      lastServedAt: '2026-01-03T01:00:00.000Z',
      metrics: { accuracy: 0.61, precision: 0.5, recall: 0.4, f1: 0.44 },
      conceptDrift: {
        detector: 'adwin',
        detected: false,
        detections: 0,
        statistic: 0.2,
        threshold: 1,
        errorMean: 0.39,
      },
    };
    const before = (await decisions()).decisions.length;
    // a republished window (after a crash) under a second CloudEvent id is the same alert
    await service.infra.publisher.publish(LabelWindowClosedV1, window, { id: uniqueName('window') });
    await service.infra.publisher.publish(LabelWindowClosedV1, window, { id: uniqueName('window') });
    const key = `${pipelineId}:performance-drop:v2:w3`;
    await arrived(key);

    const latest = await eventually('the window decided', async () => {
      const found = (await decisions()).decisions;
      return found.length === before + 1 ? found[0] : undefined;
    });
    // the second drift retrain fired at 1,000 rows and no new data has come since
    expect(latest).toMatchObject({ outcome: 'suppressed', reason: 'performance-drop', modelVersion: 2 });
    expect(latest.why).toContain('accuracy 0.6100 < 0.8 on 200 labelled rows');
    expect(latest.why).toContain('cooldown: 0 of 1000 rows');

    // later alerts have arrived in order, so a second delivery of this key would be here by now
    await service.infra.publisher.publish(TrainingFailedV1, failed(), { id: uniqueName('failed') });
    await arrived(`${pipelineId}:training-failed:${pipelineId}:policy:9`);
    const drops = alertsOf('performance-drop');
    expect(drops.map((r) => r.alert.alertKey)).toEqual([key]);
    const [drop] = drops;
    expect(verifyWebhookSignature(drop.body, drop.headers[SIGNATURE_HEADER] as string, SECRET)).toBe(true);
    expect(drop.headers[ALERT_KEY_HEADER]).toBe(key);
    expect(drop.alert).toMatchObject({
      kind: 'performance-drop',
      severity: 'critical',
      pipelineId,
      modelVersion: 2,
      details: { metric: 'accuracy', value: 0.61, bound: 0.8, labelled: 200, window: 3 },
    });
    expect(drop.alert.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('delivers one signed alert for a requested training run that failed for good, redelivered', async () => {
    await service.infra.publisher.publish(TrainingFailedV1, failed(), { id: uniqueName('failed') });
    await service.infra.publisher.publish(TrainingFailedV1, { ...failed(), trigger: { reason: 'new-data' } });
    const newData = `${pipelineId}:training-failed:${failed().featureSetId}`;
    await arrived(newData);

    const alerts = alertsOf('training-failed');
    expect(alerts.map((r) => r.alert.alertKey)).toEqual([
      `${pipelineId}:training-failed:${pipelineId}:policy:9`,
      newData,
    ]);
    const [alert] = alerts;
    expect(verifyWebhookSignature(alert.body, alert.headers[SIGNATURE_HEADER] as string, SECRET)).toBe(true);
    expect(alert.alert).toMatchObject({
      kind: 'training-failed',
      severity: 'critical',
      pipelineId,
      details: { reason: 'performance-drop', requestId: `${pipelineId}:policy:9`, errorCode: 'bad-feature-set' },
    });
    expect(alerts[1].alert.severity).toBe('warning');
  });

  it('alerts on a rollout its analysis rolled back, not on one that advanced', async () => {
    const transition: EventData<typeof ModelRolloutTransitionedV1> = {
      pipelineId: spec.id,
      modelName: pipelineId,
      environment: 'production',
      rolloutId: `${pipelineId}-rollout-1`,
      strategy: 'canary',
      candidateVersion: 3,
      baselineVersion: 2,
      from: 'progressing',
      to: 'progressing',
      trigger: 'analysis-passed',
      reason: 'step 0 passed',
      actor: 'rollout-driver',
      step: 1,
      candidateWeight: 25,
      mirrored: false,
      revision: 2,
    };
    await service.infra.publisher.publish(ModelRolloutTransitionedV1, transition);
    await service.infra.publisher.publish(ModelRolloutTransitionedV1, {
      ...transition,
      to: 'rolled-back',
      trigger: 'analysis-failed',
      reason: 'error rate 0.08 > 0.01',
      step: 1,
      candidateWeight: 0,
      revision: 3,
    });
    const key = `${pipelineId}:rollout-rolled-back:${pipelineId}-rollout-1:r3`;
    await arrived(key);
    const [alert, ...more] = alertsOf('rollout-rolled-back');
    expect(more).toEqual([]);
    expect(alert.alert).toMatchObject({
      alertKey: key,
      severity: 'critical',
      modelVersion: 3,
      details: { trigger: 'analysis-failed', environment: 'production', baselineVersion: 2 },
    });
    expect(verifyWebhookSignature(alert.body, alert.headers[SIGNATURE_HEADER] as string, SECRET)).toBe(true);
  });

  function failed(): EventData<typeof TrainingFailedV1> {
    return {
      pipelineId: spec.id,
      datasetVersionId: derivedId('ds', [pipelineId, 'failing']),
      featureSetId: derivedId('fs', [pipelineId, 'failing']),
      trigger: { reason: 'performance-drop', requestId: `${pipelineId}:policy:9`, requestedBy: 'monitoring' },
      window: 'last 4800 rows',
      errorCode: 'bad-feature-set',
      error: 'feature set lacks column(s) age',
      failedAt: '2026-01-03T02:00:00.000Z',
    } as EventData<typeof TrainingFailedV1>;
  }
});
