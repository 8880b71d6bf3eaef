import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { WellKnownAlias } from '@keel/contracts';
import { ModelVersion } from '@keel/grpc-api';
import { serializePackage } from '@keel/model-package';
import { type ModelRegistryApi, REGISTRY_CLIENT, RegistryNotFoundError } from '@keel/registry-client';
import { BUCKETS, ObjectStore } from '@keel/storage';
import {
  binaryTestPackage,
  columnTensors,
  eventually,
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  type ServiceUnderTest,
  stackEndpoints,
  startServiceUnderTest,
  uniqueName,
} from '@keel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servingEnvSchema } from '../../apps/serving/src/config';
import { servingModule } from '../../apps/serving/src/serving.module';
import { ensureTritonclientVenv } from './tritonclient-venv';

type Row = Record<string, string | number | null>;

/** One output as the script read it with `as_numpy`. */
interface NumpyOutput {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
interface Inference {
  model_version: string;
  prediction_id: string | null;
  outputs: Record<string, NumpyOutput | null>;
}
interface Failure {
  status: string;
  message: string;
}
interface Metadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: { name: string; datatype: string; shape: (number | string)[] }[];
  outputs: { name: string; datatype: string; shape: (number | string)[] }[];
}
interface Common {
  server_live: boolean;
  server_ready: boolean;
  model_ready: boolean;
  version_ready: boolean;
  unknown_model_ready: boolean;
  server_metadata: { name: string; version: string; extensions?: string[] };
  model_metadata: Metadata;
  errors: Record<
    'unknown_model' | 'unknown_version' | 'wrong_datatype' | 'metadata_unknown_model' | 'malformed',
    Failure | null
  >;
}
/** What tools/tritonclient/oip_checks.py reports. */
interface Report {
  http: Common & { version_metadata: Metadata; typed: Inference; binary: Inference; typed_in_binary_out: Inference };
  grpc: Common & { raw: Inference; raw_all_outputs: Inference };
}

const SCRIPT = resolve(__dirname, 'oip_checks.py');
/** A first provisioning downloads the client's wheels from PyPI. */
const PROVISION_TIMEOUT_MS = 20 * 60_000;

/** Runs the script with the rows on stdin; its stdout is the report. */
function runChecks(python: string, args: string[], rows: readonly Row[]): Promise<Report> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, [SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`oip_checks.py exited with ${code}:\n${stderr}`));
      try {
        resolvePromise(JSON.parse(stdout) as Report);
      } catch (error) {
        reject(new Error(`oip_checks.py printed no JSON (${(error as Error).message}):\n${stdout}\n${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify({ rows }));
  });
}

/**
 * NVIDIA's Python tritonclient, grpc and http, unchanged, against serving on the real stack: health, metadata,
 * readiness, infer with typed (JSON) and raw (binary) inputs, outputs read with `as_numpy`, errors as status codes.
 */
describe('tritonclient against serving', () => {
  const pipelineId = uniqueName('triton-adult');
  const spec = pipelineSpecFixture('adult-income', { id: pipelineId });
  const features = spec.features.map((feature) => feature.name);
  const training = fixtureRecords('adult', { count: 300, numeric: spec }) as Row[];
  const rows = training.filter((row) => features.every((name) => row[name] !== null)).slice(0, 4);
  const objects = new ObjectStore(stackEndpoints.s3);
  let version: ModelVersion;
  // The registry as serving sees it: v1 is the champion; it knows no other model.
  const registry = {
    listModelVersions: async (modelName: string) => {
      if (modelName !== pipelineId) throw new RegistryNotFoundError(`model "${modelName}" not found`);
      return [{ ...version, aliases: [WellKnownAlias.CHAMPION] }];
    },
  } as ModelRegistryApi;
  let service: ServiceUnderTest;
  let client: InferenceClient;
  let report: Report;
  /** Serving's own answer to a typed gRPC request: what every tritonclient call must read back. */
  let expected: { probability: number[]; label: string[] };

  beforeAll(async () => {
    const python = await ensureTritonclientVenv((line) => process.stdout.write(`${line}\n`));
    await objects.ensureBuckets(Object.values(BUCKETS));
    const bytes = serializePackage(binaryTestPackage(spec, training));
    const stored = await objects.putContentAddressed(BUCKETS.models, `test/${pipelineId}`, bytes, {
      extension: '.json',
    });
    version = ModelVersion.fromPartial({
      pipelineId,
      modelName: pipelineId,
      version: 1,
      packageUri: stored.uri,
      packageSha256: stored.sha256,
    });
    service = await startServiceUnderTest({
      service: 'serving',
      envSchema: servingEnvSchema,
      features: [servingModule({ provide: REGISTRY_CLIENT, useValue: registry })],
      database: 'keel_it_tritonclient',
      pipelines: [spec],
    });
    client = new InferenceClient(service.grpcAddress!);
    await eventually('ServerReady', async () => ((await client.serverReady()).ready ? true : undefined), {
      timeoutMs: 60_000,
    });
    const answer = await client.modelInfer({ modelName: pipelineId, inputs: columnTensors(spec, rows) });
    const contents = (name: string) => answer.outputs.find((output) => output.name === name)!.contents!;
    expected = {
      probability: contents('probability').fp64Contents,
      label: contents('label').bytesContents.map((bytes) => Buffer.from(bytes).toString('utf8')),
    };
    const httpAddress = service.httpUrl.replace(/^http:\/\//, '');
    report = await runChecks(python, [httpAddress, service.grpcAddress!, pipelineId, '1'], rows);
  }, PROVISION_TIMEOUT_MS);

  afterAll(async () => {
    client?.close();
    await service?.close();
  });

  const expectPredictions = (inference: Inference) => {
    expect(inference.model_version).toBe('1');
    expect(inference.prediction_id).toMatch(/^[0-9a-f-]{36}$/);
    const { probability, label } = inference.outputs;
    expect(probability).toMatchObject({ dtype: 'float64', shape: [rows.length] });
    probability!.values.forEach((value, i) => expect(value).toBeCloseTo(expected.probability[i], 12));
    expect(label).toMatchObject({ dtype: 'object', shape: [rows.length], values: expected.label });
  };

  const expectMetadata = (metadata: Metadata) => {
    expect(metadata.name).toBe(pipelineId);
    expect(metadata.inputs.map((input) => input.name)).toEqual(features);
    for (const input of metadata.inputs) {
      const numeric = spec.features.find((feature) => feature.name === input.name)!.type === 'numeric';
      expect(input.datatype, input.name).toBe(numeric ? 'FP64' : 'BYTES');
    }
    expect(metadata.outputs.map((output) => [output.name, output.datatype])).toEqual([
      ['probability', 'FP64'],
      ['label', 'BYTES'],
    ]);
  };

  describe.each(['http', 'grpc'] as const)('tritonclient.%s', (protocol) => {
    it('reads liveness, readiness and metadata', () => {
      const seen = report[protocol];
      expect(seen).toMatchObject({
        server_live: true,
        server_ready: true,
        model_ready: true,
        version_ready: true,
        unknown_model_ready: false,
      });
      expect(seen.server_metadata.name).toBe('keel-serving');
      expectMetadata(seen.model_metadata);
    });

    it('maps errors to their status codes', () => {
      const { errors } = report[protocol];
      const [notFound, invalid] =
        protocol === 'http' ? ['404', '400'] : ['StatusCode.NOT_FOUND', 'StatusCode.INVALID_ARGUMENT'];
      expect(errors.unknown_model?.status).toBe(notFound);
      expect(errors.unknown_model?.message).toMatch(/no-such-model/);
      expect(errors.unknown_version?.status).toBe(notFound);
      expect(errors.metadata_unknown_model?.status).toBe(notFound);
      expect(errors.wrong_datatype?.status).toBe(invalid);
      expect(errors.wrong_datatype?.message).toMatch(/age/);
    });

    it("answers a request that does not parse as the caller's mistake, saying why", () => {
      const { malformed } = report[protocol].errors;
      if (protocol === 'http') {
        expect(malformed?.status).toBe('400');
        expect(JSON.parse(malformed!.message)).toEqual({ error: expect.stringMatching(/JSON/) });
      } else {
        expect(malformed?.status).toBe('StatusCode.INVALID_ARGUMENT');
        expect(malformed?.message).toMatch(/not a valid inference\.GRPCInferenceService\/ModelInfer request/);
      }
    });
  });

  it('tritonclient.http infers with typed (JSON) inputs and outputs, read with as_numpy', () => {
    expectPredictions(report.http.typed);
  });

  it('tritonclient.http infers with binary inputs and binary outputs, read with as_numpy', () => {
    expectPredictions(report.http.binary);
  });

  it('tritonclient.http infers by version with typed inputs and binary outputs', () => {
    expectMetadata(report.http.version_metadata);
    expectPredictions(report.http.typed_in_binary_out);
  });

  it('tritonclient.grpc infers with raw inputs and reads the raw outputs with as_numpy', () => {
    expectPredictions(report.grpc.raw);
    expectPredictions(report.grpc.raw_all_outputs);
  });
});
