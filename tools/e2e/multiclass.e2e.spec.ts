/**
 * A multiclass pipeline on the real stack and all seven services: Adult's education grouped into four classes
 * (fixtures/pipelines/adult-education.yaml) trains softmax models, the registry verifies the champion's metrics on the
 * holdout and stores a K × K evaluation report, serving answers [rows, 4] class probabilities and a label over gRPC and
 * REST, and monitoring counts the predictions, drifts on the predicted class and joins labels for accuracy and macro F1.
 */
import { telemetry } from '../demo/telemetry';
import { type EventData, LabelReceivedV1, type PipelineId } from '@keel/contracts';
import { createProducer, EventPublisher } from '@keel/messaging';
import { columnTensors, eventually, InferenceClient, stackKafka, uniqueName } from '@keel/testing';
import { type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints, waitForServing } from '../demo/pipeline-client';
import { bundledPipelines, type PipelineRun, runPipeline } from '../demo/run-pipeline';
import { startServices } from '../services/services';

const CLASSES = ['no-diploma', 'high-school', 'some-college', 'degree'];
const SERVING_HTTP = 'http://127.0.0.1:3006';
/** Rows of the one request the monitoring checks label: two label windows of the spec's 100. */
const LABELLED_ROWS = 200;

describe('multiclass pipeline: Adult education level, trained, served and monitored', () => {
  let producer: Producer;
  let run: PipelineRun;
  const pipelineId = uniqueName('adult-edu');

  beforeAll(async () => {
    await startServices();
    producer = createProducer(stackKafka('e2e-multiclass'));
    await producer.connect();
    // A third of Adult's train split keeps the run short; the classes and their mix are the same.
    const pipeline = {
      ...bundledPipelines.adultEducation,
      trainingRows: (row: Record<string, string>) => row.split === 'train' && Number(row.fnlwgt) % 3 === 0,
    };
    run = await runPipeline(pipeline, producer, { pipelineId, timeoutMs: 300_000 });
  });

  afterAll(async () => {
    await producer?.disconnect();
    await telemetry.shutdown();
  });

  it('registers a champion whose multiclass metrics the registry recomputed, above the majority class', async () => {
    const { metrics } = run.champion;
    for (const name of ['accuracy', 'f1_macro', 'f1_weighted', 'precision_macro', 'recall_macro', 'log_loss']) {
      expect(metrics[name], name).toEqual(expect.any(Number));
    }
    // High-school, the largest class, is 32 % of the rows.
    expect(metrics.accuracy).toBeGreaterThan(0.4);
    const versions = (await (await fetch(`${endpoints.registryHttp}/api/v1/models/${pipelineId}/versions`)).json()) as {
      versions: { version: number; verification?: { status: string } }[];
    };
    const champion = versions.versions.find((v) => v.version === run.champion.version);
    expect(champion?.verification?.status).toBe('verified');
  });

  it('stores an evaluation report with the 4 × 4 confusion matrix, per-class metrics and selection rates by sex', async () => {
    const response = await fetch(
      `${endpoints.registryHttp}/api/v1/models/${pipelineId}/versions/${run.champion.version}/evaluation`,
    );
    expect(response.status).toBe(200);
    const report = (await response.json()) as {
      task: string;
      rows: number;
      classes: string[];
      classConfusionMatrix: number[][];
      perClass: { class: string; support: number }[];
      slices: { attribute: string; classSelectionRateDifference: Record<string, number> }[];
    };
    expect(report.task).toBe('multiclass-classification');
    expect(report.classes).toEqual(CLASSES);
    expect(report.classConfusionMatrix).toHaveLength(4);
    expect(report.classConfusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(report.rows);
    expect(report.perClass.map((c) => c.class)).toEqual(CLASSES);
    expect(report.perClass.reduce((sum, c) => sum + c.support, 0)).toBe(report.rows);
    const sex = report.slices.find((slice) => slice.attribute === 'sex');
    expect(Object.keys(sex!.classSelectionRateDifference)).toEqual(CLASSES);
  });

  it('declares and answers a [rows, 4] probability tensor summing to 1 per row and the argmax label, over gRPC', async () => {
    const client = new InferenceClient(endpoints.servingGrpc);
    try {
      const metadata = await client.modelMetadata({ name: pipelineId });
      expect(metadata.outputs).toEqual([
        { name: 'probability', datatype: 'FP64', shape: [-1, 4] },
        { name: 'label', datatype: 'BYTES', shape: [-1] },
      ]);
    } finally {
      client.close();
    }
    const [probability, label] = run.firstPrediction.outputs;
    expect(probability).toMatchObject({ name: 'probability', datatype: 'FP64', shape: [5, 4] });
    expect(label).toMatchObject({ name: 'label', datatype: 'BYTES', shape: [5] });
    const values = probability.contents!.fp64Contents;
    const labels = label.contents!.bytesContents.map((bytes) => Buffer.from(bytes).toString());
    for (let row = 0; row < 5; row++) {
      const p = values.slice(row * 4, row * 4 + 4);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(labels[row]).toBe(CLASSES[p.indexOf(Math.max(...p))]);
    }
  });

  it('answers the same tensor shapes over REST', async () => {
    const rows = run.servingRows.slice(0, 3);
    const inputs = columnTensors(run.spec, rows).map((tensor) => ({
      name: tensor.name,
      datatype: tensor.datatype,
      shape: tensor.shape,
      data:
        tensor.datatype === 'FP64'
          ? tensor.contents!.fp64Contents!.map((v) => (Number.isNaN(v) ? null : v))
          : tensor.contents!.bytesContents!.map((b) => Buffer.from(b as Uint8Array).toString()),
    }));
    const response = await fetch(`${SERVING_HTTP}/v2/models/${pipelineId}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { outputs: { name: string; shape: number[]; data: unknown[] }[] };
    const probability = body.outputs.find((o) => o.name === 'probability')!;
    expect(probability.shape).toEqual([3, 4]);
    expect(probability.data).toHaveLength(12);
    expect(body.outputs.find((o) => o.name === 'label')!.data.every((l) => CLASSES.includes(l as string))).toBe(true);
  });

  it('counts the predictions, joins their labels for accuracy and macro F1, and counts an undeclared class', async () => {
    const rows = run.servingRows.slice(5, 5 + LABELLED_ROWS);
    const client = new InferenceClient(endpoints.servingGrpc);
    let predictionId: string;
    try {
      await waitForServing(client, pipelineId, 60_000, run.champion.version);
      const answer = await client.modelInfer({
        modelName: pipelineId,
        id: `${pipelineId}-labelled`,
        inputs: columnTensors(run.spec, rows),
      });
      predictionId = answer.parameters.prediction_id.stringParam!;
    } finally {
      client.close();
    }
    await eventually('the predictions counted by monitoring', async () => {
      const response = await fetch(`${endpoints.monitoringHttp}/api/v1/pipelines/${pipelineId}/predictions/count`);
      const { count } = (await response.json()) as { count: number };
      return count >= 5 + LABELLED_ROWS ? count : undefined;
    });

    // Row 0's label is a class the spec never declared: joined, scored as an error and counted.
    const labels: EventData<typeof LabelReceivedV1>['labels'] = rows.map((row, i) => ({
      predictionId: `${predictionId}-${i}`,
      label: i === 0 ? 'apprenticeship' : String(row.education_level),
      observedAt: new Date().toISOString(),
    }));
    const publisher = new EventPublisher(producer, '/e2e/multiclass');
    await publisher.publish(LabelReceivedV1, { pipelineId: pipelineId as PipelineId, labels });

    type Window = { windowIndex: number; labelledCount: number; metrics: Record<string, number> };
    type View = { versions: { task: string; labelsJoined: number; windows: (Window & Record<string, unknown>)[] }[] };
    const view = await eventually(
      'two closed label windows',
      async () => {
        const response = await fetch(`${endpoints.monitoringHttp}/api/v1/pipelines/${pipelineId}/performance`);
        const body = (await response.json()) as View;
        return body.versions.some((v) => v.windows.length >= 2) ? body : undefined;
      },
      { timeoutMs: 60_000 },
    );
    // The version that answered (a later dataset version may have trained another one meanwhile).
    const version = view.versions.find((v) => v.windows.length >= 2)!;
    expect(version.task).toBe('multiclass-classification');
    expect(version.labelsJoined).toBe(LABELLED_ROWS);
    const first = version.windows.find((w) => w.windowIndex === 0)!;
    expect(first.labelledCount).toBe(100);
    expect(first.metrics.accuracy).toBeGreaterThan(0.3);
    expect(first.metrics.f1_macro).toBeGreaterThan(0.2);
    expect(first.unknownClassLabels).toBe(1);
  });

  it('drifts on the predicted class when the traffic turns to graduate professionals', async () => {
    // Window 0 (200 rows) is the version's baseline; the rows below fill window 1 with a shifted population.
    const shifted = run.servingRows.slice(300, 600).map((row) => ({
      ...row,
      occupation: 'Prof-specialty',
      income: '>50K',
    }));
    const client = new InferenceClient(endpoints.servingGrpc);
    try {
      await client.modelInfer({
        modelName: pipelineId,
        id: `${pipelineId}-shifted`,
        inputs: columnTensors(run.spec, shifted),
      });
    } finally {
      client.close();
    }
    type Report = { feature: string; drifted: boolean };
    const window = await eventually(
      'an evaluated window with prediction drift',
      async () => {
        const response = await fetch(`${endpoints.monitoringHttp}/api/v1/pipelines/${pipelineId}/drift`);
        const { windows } = (await response.json()) as { windows: { windowIndex: number; predictions?: Report[] }[] };
        return windows.find((w) => w.windowIndex === 1 && w.predictions);
      },
      { timeoutMs: 60_000 },
    );
    const outputs = window.predictions!.map((p) => p.feature).sort();
    expect(outputs).toEqual(['label', 'probability_0', 'probability_1', 'probability_2', 'probability_3']);
    expect(window.predictions!.find((p) => p.feature === 'label')?.drifted).toBe(true);
  });
});
