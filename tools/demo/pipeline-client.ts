/**
 * What an ML engineer and an upstream system do with Keel, as code: apply a pipeline spec, publish data events to
 * Kafka, wait for a champion model, and call ModelInfer over gRPC. Used by `npm start` and the end-to-end tests.
 */
import { randomUUID } from 'node:crypto';
import { credentials, loadPackageDefinition, Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  DataRecordsV1,
  encodeCloudEventHeaders,
  INFERENCE_PROTO,
  type PipelineSpecV1,
  type Scalar,
} from '@keel/contracts';
import { injectTraceContext } from '@keel/telemetry';
import { context, propagation } from '@opentelemetry/api';
import { type Producer } from 'kafkajs';
import { readSimpleCsv } from './csv';

export const endpoints = {
  registryHttp: 'http://127.0.0.1:3005',
  ingestionHttp: 'http://127.0.0.1:3001',
  validationHttp: 'http://127.0.0.1:3002',
  monitoringHttp: 'http://127.0.0.1:3007',
  servingGrpc: '127.0.0.1:8001',
} as const;

/** Typed records from a bundled CSV, shaped as the pipeline's upstream would send them. */
export function recordsFromCsv(
  path: string,
  spec: PipelineSpecV1,
  keep: (row: Record<string, string>) => boolean = () => true,
): Record<string, Scalar>[] {
  const { header, rows } = readSimpleCsv(path);
  const numeric = new Set(spec.features.filter((f) => f.type === 'numeric').map((f) => f.name));
  if (spec.task === 'regression') numeric.add(spec.target.column);
  return rows
    .map((fields) => Object.fromEntries(header.map((name, i) => [name, fields[i]])))
    .filter(keep)
    .map((row) => {
      const record: Record<string, Scalar> = {};
      for (const [name, value] of Object.entries(row)) {
        record[name] = value === '' ? null : numeric.has(name) ? Number(value) : value;
      }
      return record;
    });
}

/** Applies a spec through the registry's HTTP API; returns the applied version. */
export async function applySpec(yamlText: string, pipelineId: string): Promise<{ version: number }> {
  const response = await fetch(`${endpoints.registryHttp}/api/v1/pipelines/${pipelineId}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/yaml' },
    body: yamlText,
  });
  if (!response.ok) throw new Error(`applying ${pipelineId}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as { version: number };
}

/**
 * Publishes records the way an upstream system does: plain Kafka records on mlops.data.records.v1, keyed by the
 * pipeline id, CloudEvents binary-mode headers, one event per batch, W3C trace context of the caller's span.
 */
export async function publishRecords(
  producer: Producer,
  pipelineId: string,
  records: readonly Record<string, Scalar>[],
  options: { batchSize?: number; source?: string } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 1_000;
  let events = 0;
  for (let start = 0; start < records.length; start += batchSize) {
    const headers = encodeCloudEventHeaders({
      id: randomUUID(),
      source: `/upstream/${options.source ?? 'demo'}`,
      type: DataRecordsV1.topic,
      specversion: '1.0',
      time: new Date().toISOString(),
    });
    injectTraceContext(headers);
    const data = { pipelineId, source: options.source ?? 'demo', records: records.slice(start, start + batchSize) };
    await producer.send({
      topic: DataRecordsV1.topic,
      messages: [{ key: pipelineId, value: JSON.stringify(data), headers }],
    });
    events += 1;
  }
  return events;
}

export interface ModelVersionView {
  modelName: string;
  version: number;
  packageUri: string;
  packageSha256: string;
  algorithm: string;
  metrics: Record<string, number>;
  lineage: Record<string, unknown>;
}

/** Polls the registry until the model has a champion (optionally newer than `after`). */
export async function waitForChampion(modelName: string, timeoutMs: number, after = 0): Promise<ModelVersionView> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${endpoints.registryHttp}/api/v1/models/${modelName}/aliases/champion`).catch(
      () => undefined,
    );
    if (response?.ok) {
      const body = (await response.json()) as ModelVersionView;
      if (body.version > after) return body;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  throw new Error(`no champion for ${modelName} after ${timeoutMs / 1000} s`);
}

// ---- Open Inference Protocol v2 client ------------------------------------------------------------------------

export interface InferTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents: {
    fp64_contents?: number[];
    bytes_contents?: Buffer[];
    fp32_contents?: number[];
    int64_contents?: number[];
  };
}

export interface InferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: InferTensor[];
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  callback: (error: ServiceError | null, response: Res) => void,
) => void;

interface InferenceStub {
  ModelInfer: Unary<{ model_name: string; model_version?: string; id?: string; inputs: InferTensor[] }, InferResponse>;
  ModelReady: Unary<{ name: string; version?: string }, { ready: boolean }>;
  ModelMetadata: Unary<{ name: string }, { name: string; versions: string[]; inputs: unknown[]; outputs: unknown[] }>;
  close(): void;
}

/** A client of the serving service, loaded from the same proto as the server: any OIP v2 client works the same. */
export function inferenceClient(address: string = endpoints.servingGrpc) {
  const definition = loadSync(INFERENCE_PROTO, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const proto = loadPackageDefinition(definition) as unknown as {
    inference: {
      GRPCInferenceService: new (
        address: string,
        creds: ReturnType<typeof credentials.createInsecure>,
      ) => InferenceStub;
    };
  };
  const stub = new proto.inference.GRPCInferenceService(address, credentials.createInsecure());
  const call =
    <Req, Res>(method: Unary<Req, Res>) =>
    (request: Req) =>
      new Promise<Res>((resolve, reject) => {
        // Trace context goes in the call's metadata explicitly, so the caller's trace continues in serving whether
        // or not grpc-js was auto-instrumented in this process.
        const metadata = new Metadata();
        propagation.inject(context.active(), metadata, { set: (carrier, key, value) => carrier.set(key, value) });
        method.call(stub, request, metadata, (error, response) => (error ? reject(error) : resolve(response)));
      });
  return {
    modelInfer: call(stub.ModelInfer),
    modelReady: call(stub.ModelReady),
    modelMetadata: call(stub.ModelMetadata),
    close: () => stub.close(),
  };
}

/** One tensor per raw feature column: FP64 for numeric features, BYTES for categorical ones. */
export function columnTensors(spec: PipelineSpecV1, rows: readonly Record<string, Scalar>[]): InferTensor[] {
  return spec.features.map((feature) => {
    const values = rows.map((row) => row[feature.name] ?? null);
    return feature.type === 'numeric'
      ? {
          name: feature.name,
          datatype: 'FP64',
          shape: [rows.length],
          contents: { fp64_contents: values.map((v) => (v === null ? NaN : Number(v))) },
        }
      : {
          name: feature.name,
          datatype: 'BYTES',
          shape: [rows.length],
          contents: { bytes_contents: values.map((v) => Buffer.from(v === null ? '' : String(v))) },
        };
  });
}

/** Polls ModelReady until serving has loaded a version of the model (optionally a given one). */
export async function waitForServing(
  client: ReturnType<typeof inferenceClient>,
  modelName: string,
  timeoutMs: number,
  version?: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ready = await client
      .modelReady({ name: modelName, version: version === undefined ? '' : String(version) })
      .catch(() => ({ ready: false }));
    if (ready.ready) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`serving has not loaded ${modelName}${version ? ` v${version}` : ''} after ${timeoutMs / 1000} s`);
}
