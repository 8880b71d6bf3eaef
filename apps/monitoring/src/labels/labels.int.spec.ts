import {
  type EventData,
  LabelReceivedV1,
  LabelWindowClosedV1,
  type PipelineId,
  type PipelineSpecV1,
  PredictionLoggedV2,
  type Scalar,
} from '@keel/contracts';
import { accuracy, f1, precision, recall, rocAuc } from '@keel/ml-stats';
import { NonRetryableError } from '@keel/messaging';
import { serializePackage } from '@keel/model-package';
import { type Infrastructure } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import {
  eventually,
  fixtureRecords,
  pipelineSpecFixture,
  type RecordedEvent,
  type ServiceUnderTest,
  TopicRecorder,
  uniquePipelineId,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PredictionArchive } from '../archive/prediction-archive';
import { type PerformanceView } from '../performance/performance.service';
import { adultPackage, servedInputs, startMonitoringUnderTest } from '../test-support/monitoring-under-test';
import { type LabelsView } from './labels.controller';

const MODEL_NAME = 'adult-income-model';
const HOUR_MS = 60 * 60 * 1000;
/** Labels whose prediction is not archived wait this long before they count as unmatched. */
const WAIT_MS = 3_000;

type Row = Record<string, Scalar>;
type WindowEvent = EventData<typeof LabelWindowClosedV1>;

/** A served row as the test decides it: its id, score (probability of >50K), true label and when it was served. */
interface Served {
  id: string;
  score: number;
  positive: boolean;
  servedAt: number;
}

describe('label join, rolling performance and concept drift against the real stack', () => {
  let service: ServiceUnderTest;
  let infra: Infrastructure;
  let recorder: TopicRecorder;
  let packageRef = { packageUri: '', packageSha256: '' };
  const specs: PipelineSpecV1[] = [];
  const adultRows = (n: number, from: number): Row[] => fixtureRecords('adult', { count: n, from, numeric: specs[0] });
  const http = () => request(service.app.getHttpServer());

  const newSpec = async (prefix: string, windowLabels: number) => {
    const spec = pipelineSpecFixture('adult-income', {
      id: uniquePipelineId(prefix),
      performance: { windowLabels } as PipelineSpecV1['performance'],
    });
    await infra.pipelines.apply(spec);
    specs.push(spec);
    return spec;
  };

  beforeAll(async () => {
    const mongoUrl = process.env.MONITORING_INT_MONGO_URL;
    service = await startMonitoringUnderTest({
      database: 'keel_monitoring_labels_int',
      env: {
        ...(mongoUrl ? { MONGO_URL: mongoUrl } : {}),
        LABEL_JOIN_INTERVAL_MS: '200',
        LABEL_JOIN_WAIT_MS: String(WAIT_MS),
        PREDICTION_CHECKPOINT_INTERVAL_MS: '300',
      },
      locator: {
        locate: async (ref) => {
          if (!specs.some((spec) => spec.id === ref.pipelineId) || !packageRef.packageUri) {
            throw new NonRetryableError(`no test package for ${ref.pipelineId}`);
          }
          return packageRef;
        },
      },
    });
    infra = service.infra;
    const first = await newSpec('lbl-join', 50);
    const pkg = adultPackage(first, adultRows(300, 0), { modelName: MODEL_NAME, codeVersion: 'int-test' });
    const stored = await infra.objects.putContentAddressed(
      BUCKETS.models,
      `${first.id}/packages`,
      serializePackage(pkg),
      { extension: '.json' },
    );
    packageRef = { packageUri: stored.uri, packageSha256: stored.sha256 };
    recorder = await TopicRecorder.start({
      topics: [LabelWindowClosedV1.topic],
      keep: (event) => specs.some((spec) => spec.id === (event.data as { pipelineId?: string }).pipelineId),
    });
  });

  afterAll(async () => {
    await recorder?.stop();
    await service?.close();
  });

  /** Logs served rows as v2 batches of up to 50 rows for model version 1. */
  async function serve(pipelineId: string, rows: readonly Served[], batch: string): Promise<void> {
    const inputs = adultRows(rows.length, 1_000).map(servedInputs);
    for (let start = 0; start < rows.length; start += 50) {
      const part = rows.slice(start, start + 50);
      const columns: EventData<typeof PredictionLoggedV2>['inputs'] = {};
      for (const name of Object.keys(inputs[0])) {
        columns[name] = part.map((_, i) => {
          const value = inputs[start + i][name];
          return typeof value === 'boolean' ? String(value) : (value ?? null);
        });
      }
      await infra.publisher.publish(PredictionLoggedV2, {
        pipelineId: pipelineId as PipelineId,
        modelName: MODEL_NAME,
        modelVersion: 1,
        batchId: `${pipelineId}-${batch}-${start}`,
        rows: part.length,
        predictionIds: part.map((row) => row.id),
        requestIds: part.map((row) => `${row.id}-request`),
        servedAt: part.map((row) => row.servedAt),
        inputs: columns,
        outputs: {
          probability: part.map((row) => row.score),
          label: part.map((row) => (row.score >= 0.5 ? '>50K' : '<=50K')),
        },
      });
    }
  }

  async function sendLabels(pipelineId: string, labels: readonly { id: string; positive: boolean }[]): Promise<void> {
    await infra.publisher.publish(LabelReceivedV1, {
      pipelineId: pipelineId as PipelineId,
      labels: labels.map(({ id, positive }) => ({
        predictionId: id,
        label: positive ? '>50K' : '<=50K',
        observedAt: '2026-12-01T00:00:00Z',
      })),
    });
  }

  const archived = (pipelineId: string, ids: readonly string[]) =>
    eventually(`${ids.length} predictions archived`, async () =>
      (await service.app.get(PredictionArchive).find(pipelineId, ids)).length === ids.length ? true : undefined,
    );
  const labelsView = async (pipelineId: string) =>
    (await http().get(`/api/v1/pipelines/${pipelineId}/labels`).expect(200)).body as LabelsView;
  const performanceView = async (pipelineId: string) =>
    (await http().get(`/api/v1/pipelines/${pipelineId}/performance?windows=20`).expect(200)).body as PerformanceView;
  const windowEvents = (pipelineId: string) =>
    (recorder.on(LabelWindowClosedV1.topic) as RecordedEvent<WindowEvent>[]).filter(
      (event) => event.data.pipelineId === pipelineId,
    );

  /** Realized metrics of rows, computed here from their scores and labels. */
  function expectedMetrics(rows: readonly Served[]) {
    const truth = rows.map((row) => (row.positive ? 1 : 0));
    const predicted = rows.map((row) => (row.score >= 0.5 ? 1 : 0));
    return {
      accuracy: accuracy(truth, predicted),
      precision: precision(truth, predicted),
      recall: recall(truth, predicted),
      f1: f1(truth, predicted),
      auc: rocAuc(
        truth,
        rows.map((row) => row.score),
      ),
    };
  }

  it('joins late, out-of-order and waiting labels; counts duplicates, unknown, other-pipeline and missing labels', async () => {
    const [spec] = specs;
    const other = await newSpec('lbl-other', 50);
    const now = Date.now();
    // given 160 rows served by version 1: rows 0-49 three days ago, the rest a minute ago; ids sort in serving order
    const served: Served[] = Array.from({ length: 160 }, (_, i) => ({
      id: `${spec.id}-r-${String(i).padStart(3, '0')}`,
      score: Math.round((((i * 37) % 97) / 97) * 1e4) / 1e4 + 0.0001,
      positive: (i * 11) % 7 < 3,
      servedAt: i < 50 ? now - 72 * HOUR_MS + i * 1_000 : now - 60_000 + i,
    }));
    await serve(spec.id, served, 'main');
    // and 5 rows served by another pipeline
    const elsewhere = Array.from({ length: 5 }, (_, i) => ({
      id: `${other.id}-x-${i}`,
      score: 0.3,
      positive: false,
      servedAt: now,
    }));
    await serve(other.id, elsewhere, 'other');
    await archived(
      spec.id,
      served.map((row) => row.id),
    );
    await archived(
      other.id,
      elsewhere.map((row) => row.id),
    );

    // when labels arrive for rows 100-149 first, then (out of order) for rows 0-99, days late for rows 0-49
    await sendLabels(spec.id, served.slice(100, 150));
    await sendLabels(spec.id, served.slice(0, 100));
    // and rows 0-10 again unchanged, row 10 twice in that event, and a different label for row 20
    await sendLabels(spec.id, [...served.slice(0, 11), served[10], { ...served[20], positive: !served[20].positive }]);
    // and 5 labels for ids nobody served, 5 for ids the other pipeline served; rows 150-159 never get a label
    await sendLabels(
      spec.id,
      Array.from({ length: 5 }, (_, i) => ({ id: `${spec.id}-nope-${i}`, positive: true })),
    );
    await sendLabels(spec.id, elsewhere);

    // then every label is settled and counted
    let last: LabelsView | undefined;
    const settled = await eventually(
      'the labels settled',
      async () => {
        last = await labelsView(spec.id);
        return last.join.joined === 150 && last.join.unknown + last.join.otherPipeline === 10 ? last : undefined;
      },
      // (the unmatched ones wait WAIT_MS, then every other pipeline's archive on the stack is asked for them)
      { timeoutMs: 90_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen ${JSON.stringify(last)}`);
    });
    expect(settled.intake).toEqual({ received: 150 + 13 + 10, duplicate: 12 });
    expect(settled.join).toEqual({
      joined: 150,
      lateOverHour: 50,
      lateOverDay: 50,
      outOfOrder: 100,
      duplicate: 1,
      unknown: 5,
      otherPipeline: 5,
      invalid: 0,
      waiting: 0,
    });
    expect(settled.duplicates).toBe(13);
    await eventually('160 predictions logged', async () =>
      (await labelsView(spec.id)).predictionsLogged === 160 ? true : undefined,
    );
    expect((await labelsView(spec.id)).awaitingLabels).toBe(10);

    // and a label that arrives before its prediction waits for it and then joins
    const early: Served = { id: `${spec.id}-r-early`, score: 0.9, positive: true, servedAt: Date.now() };
    await sendLabels(spec.id, [early]);
    await eventually('the early label waiting', async () =>
      (await labelsView(spec.id)).join.waiting === 1 ? true : undefined,
    );
    await serve(spec.id, [early], 'early');
    const joined = await eventually('the early label joined', async () => {
      const view = await labelsView(spec.id);
      return view.join.joined === 151 ? view : undefined;
    });
    expect(joined.join).toMatchObject({ waiting: 0, unknown: 5, otherPipeline: 5 });

    // and rolling performance over HTTP is that of the last 50 joined labels (rows 51-99 and the early one)
    const { versions } = await performanceView(spec.id);
    expect(versions).toHaveLength(1);
    const [version] = versions;
    expect(version).toMatchObject({ modelName: MODEL_NAME, modelVersion: 1, windowLabels: 50, labelsJoined: 151 });
    const rolling = expectedMetrics([...served.slice(51, 100), early]);
    expect(version.rolling.labelledCount).toBe(50);
    for (const [metric, value] of Object.entries(rolling)) {
      expect(version.rolling.metrics[metric as keyof typeof rolling]).toBeCloseTo(value, 12);
    }
    // and the three closed windows hold rows 100-149, 0-49 and 50-99 (join order), the first label of row 20 kept
    expect(version.windows.map((w) => [w.windowIndex, w.labelledCount])).toEqual([
      [2, 50],
      [1, 50],
      [0, 50],
    ]);
    const byWindow = [served.slice(100, 150), served.slice(0, 50), served.slice(50, 100)];
    for (const window of version.windows) {
      const expected = expectedMetrics(byWindow[window.windowIndex]);
      for (const [metric, value] of Object.entries(expected)) {
        expect(window.metrics[metric as keyof typeof expected]).toBeCloseTo(value, 12);
      }
    }
    // and each closed window was published once, under its stable id
    const events = await eventually('three window events', async () => {
      const found = windowEvents(spec.id);
      return found.length >= 3 ? found : undefined;
    });
    expect(events.map((event) => event.id).sort()).toEqual([0, 1, 2].map((i) => `label-window-${spec.id}-v1-${i}`));
    expect(events.find((e) => e.data.windowIndex === 1)!.data).toMatchObject({
      labelledCount: 50,
      task: 'binary-classification',
      firstServedAt: new Date(served[0].servedAt).toISOString(),
      lastServedAt: new Date(served[49].servedAt).toISOString(),
      conceptDrift: { detector: 'adwin', detected: false },
    });

    // and /metrics counts each outcome
    const metrics = (await http().get('/metrics').expect(200)).text;
    for (const outcome of ['joined', 'duplicate', 'unknown', 'other-pipeline', 'late-day', 'out-of-order']) {
      expect(metrics).toContain(`keel_monitoring_labels_total{pipeline="${spec.id}",outcome="${outcome}"`);
    }
  }, 180_000);

  it('detects concept drift when the labels flip, and estimates the waiting predictions with CBPE', async () => {
    const spec = await newSpec('lbl-flip', 100);
    const now = Date.now();
    // given 600 served rows whose scores are confident and spread over both classes
    const served: Served[] = Array.from({ length: 600 }, (_, i) => {
      const score = i % 2 === 0 ? 0.8 + (i % 17) / 100 : 0.05 + (i % 13) / 100;
      return { id: `${spec.id}-f-${String(i).padStart(3, '0')}`, score, positive: score >= 0.5, servedAt: now + i };
    });
    // whose true labels agree with the model for the first 200, then flip, with a few exceptions so AUC is defined
    for (const [i, row] of served.entries()) {
      const agrees = i < 200 ? i % 10 !== 0 : i % 10 === 0;
      row.positive = agrees === row.score >= 0.5;
    }
    await serve(spec.id, served, 'flip');
    await archived(
      spec.id,
      served.map((row) => row.id),
    );

    // when the labels of the first 400 arrive in order (rows 400-599 still wait for theirs)
    for (let start = 0; start < 400; start += 100) await sendLabels(spec.id, served.slice(start, start + 100));

    // then windows 0 and 1 are quiet and a window after the flip reports concept drift
    const events = await eventually('four window events', async () => {
      const found = windowEvents(spec.id);
      return found.length >= 4 ? found.sort((a, b) => a.data.windowIndex - b.data.windowIndex) : undefined;
    });
    expect(events.slice(0, 2).map((e) => e.data.conceptDrift.detected)).toEqual([false, false]);
    const firing = events.slice(2).find((e) => e.data.conceptDrift.detected);
    expect(firing?.data.conceptDrift).toMatchObject({ detector: 'adwin', threshold: 1 });
    expect(firing!.data.conceptDrift.statistic).toBeGreaterThan(1);
    expect(events[3].data.metrics.accuracy).toBeCloseTo(expectedMetrics(served.slice(300, 400)).accuracy, 12);

    // and each window carries CBPE's estimate for the predictions still waiting for labels
    for (const event of events) {
      expect(event.data.estimated).toMatchObject({ method: 'cbpe', rows: 100 });
      expect(event.data.estimated!.metrics.accuracy).toBeGreaterThanOrEqual(0);
    }
    // and the performance view reports the detections of the version
    const [version] = (await performanceView(spec.id)).versions;
    expect(version.conceptDrift.detections).toBeGreaterThan(0);
    expect(version.conceptDrift.lastDetectionAtLabel).toBeGreaterThanOrEqual(200);
  });
});
