import { Client, credentials, type ServiceError, status } from '@grpc/grpc-js';
import {
  type EventData,
  ModelAliasChangedV1,
  type PipelineSpecV1,
  PredictionLoggedV2,
  WellKnownAlias,
} from '@keel/contracts';
import { ModelVersion } from '@keel/grpc-api';
import { serializePackage } from '@keel/model-package';
import { PipelineStore } from '@keel/pipelines';
import { type ModelRegistryApi, REGISTRY_CLIENT, RegistryNotFoundError } from '@keel/registry-client';
import { MetricsService } from '@keel/service-runtime';
import { BUCKETS, ObjectStore } from '@keel/storage';
import {
  binaryTestPackage,
  columnTensors,
  eventually,
  fixtureRecords,
  type InferInput,
  InferenceClient,
  mongoUrlForDatabase,
  pipelineSpecFixture,
  type ServiceUnderTest,
  stackEndpoints,
  startServiceUnderTest,
  TopicRecorder,
  uniqueName,
} from '@keel/testing';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servingEnvSchema } from './config';
import { encodeRawBytes } from './inference/tensor-codec';
import { servingModule } from './serving.module';

// ---- a tiny real model package, trained here on Adult rows ---------------------------------------------------

/** A CSV row: numbers for numeric columns, text otherwise, null when empty. */
type Row = Record<string, string | number | null>;

function buildPackage(spec: PipelineSpecV1, rows: readonly Row[], l2: number): Buffer {
  return serializePackage(binaryTestPackage(spec, rows, { l2 }));
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as ServiceError,
  );

const { CHAMPION, CHALLENGER } = WellKnownAlias;

// ---- the test -----------------------------------------------------------------------------------------------

describe('serving against the real stack', () => {
  const pipelineId = uniqueName('serving-adult');
  const spec = pipelineSpecFixture('adult-income', { id: pipelineId });
  const rows = fixtureRecords('adult', { count: 600, numeric: spec }) as Row[];
  /** The service's own database (see startServiceUnderTest), where the pipeline must be applied before it starts. */
  const database = 'keel_it_serving';
  const objects = new ObjectStore(stackEndpoints.s3);
  /** Where this test's model's aliases point in the stub registry. */
  const aliases = new Map<string, number>();
  // The registry as serving sees it, answering from this test's packages; it knows no other model.
  const registry = {
    listModelVersions: async (modelName: string) => {
      if (modelName !== pipelineId) throw new RegistryNotFoundError(`model "${modelName}" not found`);
      return Object.values(versions).map((version) => ({
        ...version,
        aliases: [...aliases].filter(([, number]) => number === version.version).map(([alias]) => alias),
      }));
    },
  } as ModelRegistryApi;
  const versions: Record<number, ModelVersion> = {};
  let service: ServiceUnderTest;
  let client: InferenceClient;
  let recorder: TopicRecorder | undefined;

  const putPackage = async (version: number, bytes: Buffer) => {
    const stored = await objects.putContentAddressed(BUCKETS.models, `test/${pipelineId}`, bytes, {
      extension: '.json',
    });
    versions[version] = ModelVersion.fromPartial({
      pipelineId,
      modelName: pipelineId,
      version,
      packageUri: stored.uri,
      packageSha256: stored.sha256,
    });
  };

  /** Moves an alias in the stub registry and announces it on Kafka, as the registry does. */
  const moveAlias = async (alias: string, version: number) => {
    aliases.set(alias, version);
    const data: EventData<typeof ModelAliasChangedV1> = {
      pipelineId: pipelineId as EventData<typeof ModelAliasChangedV1>['pipelineId'],
      modelName: pipelineId,
      alias,
      version,
      reason: 'integration test',
      changedBy: 'serving.int.spec',
    };
    await service.infra.publisher.publish(ModelAliasChangedV1, data, {
      id: uniqueName(`alias-${pipelineId}-${alias}-${version}`),
    });
  };

  const metric = async (name: string) => {
    const text = await service.app.get(MetricsService).registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(`model="${pipelineId}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  beforeAll(async () => {
    await objects.ensureBuckets(Object.values(BUCKETS));
    await putPackage(1, buildPackage(spec, rows.slice(0, 300), 1e-4));
    await putPackage(2, buildPackage(spec, rows.slice(300, 600), 1));
    // v3: valid sha256, not a package (parse error); v4: bytes that do not match the sha256 in their key.
    await putPackage(3, Buffer.from('{"format":"keel.package","version":1,"pipelineId":'));
    const tamperedKey = `test/${pipelineId}/${'ab'.repeat(32)}.json`;
    await objects.put({ bucket: BUCKETS.models, key: tamperedKey }, Buffer.from('tampered'));
    versions[4] = {
      ...versions[1],
      version: 4,
      packageUri: `s3://${BUCKETS.models}/${tamperedKey}`,
      packageSha256: '',
    };

    // The pipeline is applied and v1 is champion before serving starts: the start-up sync must load it.
    const mongo = await mongoose.createConnection(mongoUrlForDatabase(database)).asPromise();
    try {
      const store = new PipelineStore(mongo);
      await store.init();
      await store.apply(spec);
    } finally {
      await mongo.close();
    }
    aliases.set(CHAMPION, 1);

    service = await startServiceUnderTest({
      service: 'serving',
      envSchema: servingEnvSchema,
      features: [servingModule({ provide: REGISTRY_CLIENT, useValue: registry })],
      database,
      env: { MODEL_LOAD_ATTEMPTS: '3', MODEL_LOAD_BACKOFF_MS: '20' },
    });
    client = new InferenceClient(service.grpcAddress!);
    await eventually('ServerReady', async () => ((await client.serverReady()).ready ? true : undefined), {
      timeoutMs: 60_000,
    });
  });

  afterAll(async () => {
    client?.close();
    await recorder?.stop();
    await service?.close();
  });

  it('answers ServerLive, ServerReady, ServerMetadata and ModelReady', async () => {
    expect(await client.serverLive()).toEqual({ live: true });
    expect(await client.serverReady()).toEqual({ ready: true });
    expect(await client.serverMetadata()).toMatchObject({ name: 'keel-serving', extensions: [] });
    expect((await client.modelReady({ name: pipelineId })).ready).toBe(true);
    expect((await client.modelReady({ name: pipelineId, version: '1' })).ready).toBe(true);
    expect((await client.modelReady({ name: pipelineId, version: '9' })).ready).toBe(false);
    expect((await client.modelReady({ name: uniqueName('nobody') })).ready).toBe(false);
  });

  it('describes the model: signature inputs with shape [-1], probability and label outputs', async () => {
    const metadata = await client.modelMetadata({ name: pipelineId });
    expect(metadata).toMatchObject({ name: pipelineId, versions: ['1'], platform: 'keel' });
    expect(metadata.inputs.map((i) => i.name)).toEqual(spec.features.map((f) => f.name));
    expect(metadata.inputs[0]).toEqual({ name: 'age', datatype: 'FP64', shape: [-1] });
    expect(metadata.inputs[1]).toEqual({ name: 'workclass', datatype: 'BYTES', shape: [-1] });
    expect(metadata.outputs).toEqual([
      { name: 'probability', datatype: 'FP64', shape: [-1] },
      { name: 'label', datatype: 'BYTES', shape: [-1] },
    ]);
    const error = await rejection(client.modelMetadata({ name: pipelineId, version: '7' }));
    expect(error?.code).toBe(status.NOT_FOUND);
  });

  it('answers ModelInfer with a probability in [0, 1] and its label for Adult rows', async () => {
    const response = await client.modelInfer({
      modelName: pipelineId,
      id: 'req-int-1',
      inputs: columnTensors(spec, rows.slice(0, 3)),
    });
    expect(response).toMatchObject({ modelName: pipelineId, modelVersion: '1', id: 'req-int-1' });
    const [probability, label] = response.outputs;
    expect(probability).toMatchObject({ name: 'probability', datatype: 'FP64', shape: [3] });
    for (const p of probability.contents!.fp64Contents!) expect(p >= 0 && p <= 1).toBe(true);
    expect(label.contents!.bytesContents.map((b) => Buffer.from(b).toString())).toEqual(
      probability.contents!.fp64Contents!.map((p) => (p >= 0.5 ? '>50K' : '<=50K')),
    );
  });

  it('gives the same answer for raw_input_contents as for contents, honouring requested outputs', async () => {
    const tensors = columnTensors(spec, rows.slice(0, 2));
    const raw = tensors.map((t) => {
      if (t.datatype === 'BYTES')
        return encodeRawBytes(t.contents!.bytesContents!.map((b) => Buffer.from(b!).toString()));
      const buffer = Buffer.alloc(8 * t.shape![0]!);
      t.contents!.fp64Contents!.forEach((v, i) => buffer.writeDoubleLE(v, 8 * i));
      return buffer;
    });
    const viaRaw = await client.modelInfer({
      modelName: pipelineId,
      modelVersion: '1',
      inputs: tensors.map((t) => ({ ...t, contents: undefined })),
      rawInputContents: raw,
      outputs: [{ name: 'probability' }],
    });
    const viaContents = await client.modelInfer({ modelName: pipelineId, inputs: tensors });
    expect(viaRaw.outputs.map((o) => o.name)).toEqual(['probability']);
    // Raw in, raw out: the probabilities come back as little-endian doubles in raw_output_contents.
    expect(viaRaw.outputs[0].contents).toBeUndefined();
    const rawProbabilities = Buffer.from(viaRaw.rawOutputContents[0]);
    const probabilities = Array.from({ length: rawProbabilities.length / 8 }, (_, i) =>
      rawProbabilities.readDoubleLE(i * 8),
    );
    expect(probabilities).toEqual(viaContents.outputs[0].contents!.fp64Contents);
    expect(viaRaw.id).toMatch(/.+/);
  });

  it.each<[string, (t: InferInput[]) => InferInput[], RegExp]>([
    ['a wrong input name', (t) => t.map((x) => (x.name === 'age' ? { ...x, name: 'agee' } : x)), /"agee"/],
    [
      'a wrong datatype',
      (t) =>
        t.map((x) =>
          x.name === 'age' ? { ...x, datatype: 'BYTES', contents: { bytesContents: [Buffer.from('39')] } } : x,
        ),
      /"age".*BYTES/,
    ],
    ['a wrong shape', (t) => t.map((x) => (x.name === 'age' ? { ...x, shape: [7] } : x)), /"age".*\[7\]/],
    ['a missing required input', (t) => t.filter((x) => x.name !== 'age'), /missing required input "age"/],
    [
      'a categorical column in a matrix',
      () => [{ name: 'input', datatype: 'FP64', shape: [1, 14], contents: { fp64Contents: new Array(14).fill(1) } }],
      /"input".*"workclass" is categorical/,
    ],
  ])('answers ModelInfer with %s by INVALID_ARGUMENT naming the input', async (_case, mutate, named) => {
    const error = await rejection(
      client.modelInfer({ modelName: pipelineId, inputs: mutate(columnTensors(spec, rows.slice(0, 1))) }),
    );
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(named);
  });

  describe('the REST binding (KServe v2)', () => {
    const v2 = (path: string, init?: RequestInit) => fetch(`${service.httpUrl}/v2${path}`, init);
    /** The Adult rows as REST JSON inputs: numbers (null when missing) and strings. */
    const jsonInputs = (count: number) =>
      columnTensors(spec, rows.slice(0, count)).map((t) => ({
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        data:
          t.datatype === 'BYTES'
            ? t.contents!.bytesContents!.map((b) => Buffer.from(b!).toString())
            : t.contents!.fp64Contents!.map((v) => (Number.isNaN(v) ? null : v)),
      }));
    /** What the REST binding answers: an inference, or an error. */
    interface RestAnswer {
      model_name: string;
      model_version: string;
      id: string;
      parameters: Record<string, string>;
      outputs: { name: string; data?: (number | string)[] }[];
      error?: string;
    }
    const answerOf = async (response: Response) => (await response.json()) as RestAnswer;
    const postJson = (path: string, body: unknown) =>
      v2(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('answers health, server metadata, model metadata and readiness, per version too', async () => {
      expect(await (await v2('/health/live')).json()).toEqual({ live: true });
      expect(await (await v2('/health/ready')).json()).toEqual({ ready: true });
      expect(await (await v2('')).json()).toMatchObject({ name: 'keel-serving', extensions: ['binary_tensor_data'] });
      const metadata = await (await v2(`/models/${pipelineId}`)).json();
      expect(metadata).toEqual(await client.modelMetadata({ name: pipelineId }));
      expect((await v2(`/models/${pipelineId}/ready`)).status).toBe(200);
      expect((await v2(`/models/${pipelineId}/versions/1/ready`)).status).toBe(200);
      expect((await v2(`/models/${pipelineId}/versions/9/ready`)).status).toBe(503);
      expect((await v2('/models/nobody-here')).status).toBe(404);
    });

    it('infers over JSON with the same answers as gRPC, echoing the id and naming the prediction', async () => {
      const viaGrpc = await client.modelInfer({ modelName: pipelineId, inputs: columnTensors(spec, rows.slice(0, 3)) });
      const response = await postJson(`/models/${pipelineId}/versions/1/infer`, {
        id: 'rest-1',
        inputs: jsonInputs(3),
      });
      expect(response.status).toBe(200);
      const body = await answerOf(response);
      expect(body).toMatchObject({ model_name: pipelineId, model_version: '1', id: 'rest-1' });
      expect(body.parameters.prediction_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(body.outputs[0]).toEqual({
        name: 'probability',
        datatype: 'FP64',
        shape: [3],
        data: viaGrpc.outputs[0].contents!.fp64Contents,
      });
      expect(body.outputs[1].data).toEqual(
        viaGrpc.outputs[1].contents!.bytesContents.map((b) => Buffer.from(b).toString()),
      );
    });

    it('infers with the binary-data extension: binary inputs in, the outputs asked for in binary out', async () => {
      const inputs = jsonInputs(2);
      const binary: Buffer[] = [];
      const header = {
        inputs: inputs.map((input) => {
          if (input.name !== 'age') return input;
          const bytes = Buffer.alloc(16);
          (input.data as number[]).forEach((v, i) => bytes.writeDoubleLE(v, i * 8));
          binary.push(bytes);
          return {
            name: input.name,
            datatype: input.datatype,
            shape: input.shape,
            parameters: { binary_data_size: 16 },
          };
        }),
        outputs: [{ name: 'probability', parameters: { binary_data: true } }, { name: 'label' }],
      };
      const json = Buffer.from(JSON.stringify(header));
      const response = await v2(`/models/${pipelineId}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
        body: Buffer.concat([json, ...binary]),
      });
      expect(response.status).toBe(200);
      const bytes = Buffer.from(await response.arrayBuffer());
      const split = Number(response.headers.get('inference-header-content-length'));
      const answer = JSON.parse(bytes.subarray(0, split).toString());
      expect(answer.outputs[0]).toEqual({
        name: 'probability',
        datatype: 'FP64',
        shape: [2],
        parameters: { binary_data_size: 16 },
      });
      const probabilities = [bytes.readDoubleLE(split), bytes.readDoubleLE(split + 8)];
      const viaJson = await answerOf(await postJson(`/models/${pipelineId}/infer`, { inputs }));
      expect(probabilities).toEqual(viaJson.outputs[0].data);
      expect(answer.outputs[1].data).toEqual(viaJson.outputs[1].data);
    });

    it('answers 400 naming the input for a wrong one, 404 for a model not served, with an error body', async () => {
      const wrong = jsonInputs(1).map((input) => (input.name === 'age' ? { ...input, shape: [7] } : input));
      const bad = await postJson(`/models/${pipelineId}/infer`, { inputs: wrong });
      expect(bad.status).toBe(400);
      expect((await answerOf(bad)).error).toMatch(/"age".*\[7\]/);
      const unknown = await postJson('/models/nobody-here/infer', { inputs: jsonInputs(1) });
      expect(unknown.status).toBe(404);
      expect((await answerOf(unknown)).error).toMatch(/nobody-here/);
      const malformed = await postJson(`/models/${pipelineId}/infer`, { inputs: 'none' });
      expect(malformed.status).toBe(400);
    });
  });

  it('answers NOT_FOUND for an unknown model or a version that is not loaded', async () => {
    const inputs = columnTensors(spec, rows.slice(0, 1));
    expect((await rejection(client.modelInfer({ modelName: 'nobody-here', inputs })))?.code).toBe(status.NOT_FOUND);
    const wrongVersion = await rejection(client.modelInfer({ modelName: pipelineId, modelVersion: '5', inputs }));
    expect(wrongVersion?.code).toBe(status.NOT_FOUND);
  });

  it('answers ModelInfer bytes that are not a ModelInferRequest INVALID_ARGUMENT, saying why', async () => {
    const raw = new Client(service.grpcAddress!, credentials.createInsecure());
    try {
      // Field 1 (model_name) declares 127 bytes; 5 follow.
      const error = await new Promise<ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(
          '/inference.GRPCInferenceService/ModelInfer',
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          Buffer.from([0x0a, 0x7f, ...Buffer.from('adult')]),
          (failure) => resolve(failure),
        ),
      );
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(/not a valid inference\.GRPCInferenceService\/ModelInfer request.*past/);
    } finally {
      raw.close();
    }
  });

  it('logs predictions to Kafka after answering, batched across requests as columns, naming the version', async () => {
    recorder = await TopicRecorder.start({
      topics: [PredictionLoggedV2.topic],
      keep: (event) => event.key === pipelineId,
      clientId: 'serving-int',
    });
    const requestIds = [uniqueName('req-log'), uniqueName('req-log')];
    const responses = await Promise.all(
      requestIds.map((id, i) =>
        client.modelInfer({ modelName: pipelineId, id, inputs: columnTensors(spec, rows.slice(i, i + 2)) }),
      ),
    );
    expect(responses.map((response) => response.id)).toEqual(requestIds);
    // The server names the prediction; the client's request id is echoed, not trusted to be unique.
    const predictionIds = responses.map((response) => response.parameters.prediction_id?.stringParam);
    for (const id of predictionIds) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const rowIds = predictionIds.flatMap((id) => [`${id}-0`, `${id}-1`]);
    const logged = await eventually('both requests logged', async () => {
      const batches = recorder!.events
        .map((event) => PredictionLoggedV2.schema.parse(event.data))
        .filter((batch) => batch.predictionIds.some((id) => rowIds.includes(id)));
      const ids = batches.flatMap((batch) => batch.predictionIds);
      return rowIds.every((id) => ids.includes(id)) ? batches : undefined;
    });
    for (const batch of logged) {
      expect(batch).toMatchObject({
        pipelineId,
        modelName: pipelineId,
        modelVersion: 1,
        rows: batch.predictionIds.length,
      });
      expect(Object.keys(batch.outputs).sort()).toEqual(['label', 'probability']);
      expect(Object.keys(batch.inputs)).toEqual(spec.features.map((feature) => feature.name));
    }
    // Each row is logged once, with its request's id and its inputs in its column position.
    const all = logged.flatMap((batch) =>
      batch.predictionIds.map((id, i) => ({
        id,
        requestId: batch.requestIds[i],
        age: batch.inputs.age[i],
        sex: batch.inputs.sex[i],
      })),
    );
    const mine = all.filter((row) => rowIds.includes(row.id));
    expect(mine.map((row) => row.id).sort()).toEqual([...rowIds].sort());
    expect(mine.find((row) => row.id === `${predictionIds[0]}-0`)).toMatchObject({
      requestId: requestIds[0],
      age: 39,
      sex: 'Male',
    });
    expect(mine.find((row) => row.id === `${predictionIds[1]}-1`)?.requestId).toBe(requestIds[1]);
  });

  it('hot-swaps to a new champion while requests run, failing none', async () => {
    const inputs = columnTensors(spec, rows.slice(0, 5));
    const before = await client.modelInfer({ modelName: pipelineId, inputs });
    let running = true;
    const failures: unknown[] = [];
    const served = new Set<string>();
    const loops = Array.from({ length: 4 }, async () => {
      while (running) {
        await client.modelInfer({ modelName: pipelineId, inputs }).then(
          (response) => served.add(response.modelVersion),
          (error: unknown) => failures.push(error),
        );
        // Paced: every request also publishes a prediction log that the monitoring service later has to read.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await moveAlias(CHAMPION, 2);
      await eventually(
        'v2 loaded',
        async () => ((await client.modelReady({ name: pipelineId, version: '2' })).ready ? true : undefined),
        { timeoutMs: 30_000 },
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    expect([...served].sort()).toEqual(['1', '2']);
    const after = await client.modelInfer({ modelName: pipelineId, inputs });
    expect(after.modelVersion).toBe('2');
    expect(after.outputs[0].contents!.fp64Contents).not.toEqual(before.outputs[0].contents!.fp64Contents);
  });

  it.each([
    [3, 'a package that does not parse'],
    [4, 'bytes that fail their sha256 check'],
  ])('keeps the previous model serving when v%i is %s, counting the failures', async (version) => {
    const failuresBefore = await metric('keel_serving_model_load_failures_total');
    await moveAlias(CHAMPION, version);
    // An unusable package is given up on at its first failure: no retry can change verified bytes.
    await eventually(
      'the load given up',
      async () => ((await metric('keel_serving_model_load_failures_total')) >= failuresBefore + 1 ? true : undefined),
      { timeoutMs: 30_000 },
    );
    expect((await client.modelReady({ name: pipelineId, version: String(version) })).ready).toBe(false);
    const response = await client.modelInfer({ modelName: pipelineId, inputs: columnTensors(spec, rows.slice(0, 1)) });
    expect(response.modelVersion).toBe('2');
    expect((await client.serverReady()).ready).toBe(true);
  });

  it('rolls back when the registry moves the champion back to an older version', async () => {
    await moveAlias(CHAMPION, 1);
    await eventually('v1 served again', async () =>
      (await client.modelReady({ name: pipelineId, version: '1' })).ready ? true : undefined,
    );
  });

  it('serves two versions at once, by alias and by number, and follows a move of any alias', async () => {
    await moveAlias(CHALLENGER, 2);
    await eventually('the challenger served', async () =>
      (await client.modelReady({ name: pipelineId, version: CHALLENGER })).ready ? true : undefined,
    );
    const inputs = columnTensors(spec, rows.slice(0, 3));
    const [byDefault, byAlias, byNumber, byChampion] = await Promise.all([
      client.modelInfer({ modelName: pipelineId, inputs }),
      client.modelInfer({ modelName: pipelineId, modelVersion: CHALLENGER, inputs }),
      client.modelInfer({ modelName: pipelineId, modelVersion: '2', inputs }),
      client.modelInfer({ modelName: pipelineId, modelVersion: CHAMPION, inputs }),
    ]);
    expect([byDefault, byAlias, byNumber, byChampion].map((r) => r.modelVersion)).toEqual(['1', '2', '2', '1']);
    expect(byAlias.outputs[0].contents!.fp64Contents).toEqual(byNumber.outputs[0].contents!.fp64Contents);
    expect(byAlias.outputs[0].contents!.fp64Contents).not.toEqual(byDefault.outputs[0].contents!.fp64Contents);
    for (const version of ['1', '2', CHAMPION, CHALLENGER]) {
      expect((await client.modelReady({ name: pipelineId, version })).ready, version).toBe(true);
    }
    expect((await client.modelReady({ name: pipelineId, version: 'staging' })).ready).toBe(false);
    expect(await client.modelMetadata({ name: pipelineId, version: CHALLENGER })).toMatchObject({
      name: pipelineId,
      versions: ['1', '2'],
    });

    // The challenger moves onto the champion's version: v2 is served by no alias any more, so it is unloaded.
    await moveAlias(CHALLENGER, 1);
    await eventually('v2 unloaded', async () =>
      (await client.modelReady({ name: pipelineId, version: '2' })).ready ? undefined : true,
    );
    const moved = await client.modelInfer({ modelName: pipelineId, modelVersion: CHALLENGER, inputs });
    expect(moved.modelVersion).toBe('1');
    const staging = await rejection(client.modelInfer({ modelName: pipelineId, modelVersion: 'staging', inputs }));
    expect(staging?.code).toBe(status.NOT_FOUND);
    expect(staging?.details).toMatch(/champion=1, challenger=1/);
  });
});
