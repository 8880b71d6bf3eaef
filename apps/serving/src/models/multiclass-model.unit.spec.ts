import { PredictionLoggedV2 } from '@keel/contracts';
import { ModelInferRequest } from '@keel/grpc-api';
import { createModelDocument, fitTransform, trainLogisticRegression, TransformRunner } from '@keel/ml-models';
import { type ModelPackage, outputsForTask, PACKAGE_FORMAT, PACKAGE_VERSION } from '@keel/model-package';
import { type MetricsService } from '@keel/service-runtime';
import { context } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { servingEnvSchema } from '../config';
import { InferenceMetrics } from '../inference/inference-metrics';
import { InferenceService } from '../inference/inference.service';
import { encodeOutputs, selectOutputs } from '../inference/output-codec';
import {
  PredictionBatchBuilder,
  type PredictionLogService,
  type ServedRequest,
} from '../inference/prediction-log.service';
import { LoadedModel } from './loaded-model';
import { ModelStore } from './model-store';

const CLASSES = ['low', 'mid', 'high'];

/** A multinomial logistic model of x's band: low below 2, high above 5. */
function multiclassPackage(): ModelPackage {
  const x = Array.from({ length: 30 }, (_, i) => i / 3);
  const transform = fitTransform({ x }, [{ name: 'x', kind: 'numeric', standardize: true }]);
  const y = x.map((v) => (v < 2 ? 0 : v <= 5 ? 1 : 2));
  const model = trainLogisticRegression(new TransformRunner(transform).table({ x }), y, { l2: 1e-3 });
  return {
    format: PACKAGE_FORMAT,
    version: PACKAGE_VERSION,
    pipelineId: 'bands',
    modelName: 'bands',
    task: 'multiclass-classification',
    target: { column: 'band', classes: CLASSES },
    signature: {
      inputs: [{ name: 'x', datatype: 'FP64', kind: 'numeric', nullable: false }],
      outputs: outputsForTask('multiclass-classification', CLASSES),
    },
    model: createModelDocument({ model, preprocessing: transform, classes: CLASSES }),
    metrics: {},
    lineage: {} as ModelPackage['lineage'],
    reference: {},
  };
}

const source = { version: 1, packageUri: 's3://keel-models/bands/x.json', packageSha256: '0'.repeat(64) };

describe('multiclass serving outputs', () => {
  const model = LoadedModel.build('bands', multiclassPackage(), source);
  const inputs = { rows: 3, columns: { x: Float64Array.of(0, 3.5, 9) } };

  it('given rows, then one probability column per class summing to 1 and the most probable class as the label', () => {
    const outputs = model.predict(inputs);
    expect(Object.keys(outputs).sort()).toEqual(['label', 'probability_0', 'probability_1', 'probability_2']);
    for (let row = 0; row < 3; row++) {
      const sum = [0, 1, 2].reduce((s, j) => s + (outputs[`probability_${j}`] as Float64Array)[row], 0);
      expect(sum).toBeCloseTo(1, 12);
    }
    expect(outputs.label).toEqual(['low', 'mid', 'high']);
  });

  it('given typed contents, then probability is a [rows, k] FP64 tensor, row-major, and label a [rows] BYTES one', () => {
    const outputs = model.predict(inputs);
    const { outputs: tensors } = encodeOutputs(outputs, selectOutputs(undefined, model.outputs), 3);
    const [probability, label] = tensors;
    expect(probability).toMatchObject({ name: 'probability', datatype: 'FP64', shape: [3, 3] });
    const values = probability.contents!.fp64Contents;
    expect(values).toHaveLength(9);
    expect(values.slice(3, 6)).toEqual([0, 1, 2].map((j) => (outputs[`probability_${j}`] as Float64Array)[1]));
    expect(label).toMatchObject({ name: 'label', datatype: 'BYTES', shape: [3] });
    expect(label.contents!.bytesContents.map((b) => Buffer.from(b).toString())).toEqual(['low', 'mid', 'high']);
  });

  it('given raw inputs, then the probabilities come back as rows × k little-endian doubles', () => {
    const outputs = model.predict(inputs);
    const encoded = encodeOutputs(outputs, selectOutputs([{ name: 'probability' }], model.outputs), 3, true);
    expect(encoded.outputs[0].shape).toEqual([3, 3]);
    const raw = encoded.rawOutputContents[0];
    expect(raw.length).toBe(9 * 8);
    expect(raw.readDoubleLE(8 * 5)).toBe((outputs.probability_2 as Float64Array)[1]);
  });

  it('given a missing class column, then encoding fails instead of answering a short tensor', () => {
    const outputs = model.predict(inputs);
    delete outputs.probability_1;
    expect(() => encodeOutputs(outputs, model.outputs, 3)).toThrow(/probability_1/);
  });
});

describe('multiclass through the inference service', () => {
  const store = new ModelStore();
  store.add(LoadedModel.build('bands', multiclassPackage(), source));
  store.bind('bands', 'champion', 1);
  store.markInitialSyncDone();
  const logged: ServedRequest[] = [];
  const log = { schedule: (request: ServedRequest) => void logged.push(request) } as unknown as PredictionLogService;
  const config = {
    ...servingEnvSchema.parse({}),
    SERVING_MAX_QUEUE_DELAY_MS: 0,
    SERVING_MAX_EVENT_LOOP_UTILIZATION: 1,
  };
  const metrics = new InferenceMetrics({ registry: new Registry() } as MetricsService);
  const inference = new InferenceService(store, metrics, log, config);

  it('declares probability [-1, k] and label [-1] in the model metadata', () => {
    expect(inference.metadata('bands').outputs).toEqual([
      { name: 'probability', datatype: 'FP64', shape: [-1, 3] },
      { name: 'label', datatype: 'BYTES', shape: [-1] },
    ]);
  });

  it('answers [rows, k] and logs each class probability as its own column, a valid prediction log', async () => {
    const response = await inference.infer(
      ModelInferRequest.fromPartial({
        modelName: 'bands',
        inputs: [{ name: 'x', datatype: 'FP64', shape: [2], contents: { fp64Contents: [0, 9] } }],
      }),
    );
    expect(response.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['probability', [2, 3]],
      ['label', [2]],
    ]);
    const [served] = logged;
    const builder = new PredictionBatchBuilder(
      'bands',
      1,
      served.inputNames,
      Object.keys(served.outputs),
      100,
      context.active(),
    );
    builder.append(served, 0, 2, served.servedAt.getTime(), 100);
    const event = builder.toEvent('batch-1');
    expect(Object.keys(event.outputs).sort()).toEqual(['label', 'probability_0', 'probability_1', 'probability_2']);
    expect(event.outputs.label).toEqual(['low', 'high']);
    expect(PredictionLoggedV2.schema.safeParse(event).success).toBe(true);
  });
});
