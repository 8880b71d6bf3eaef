/**
 * The external decoders of Keel, each as a fuzz target: what an outsider can hand a service (a Kafka record of every
 * topic, a CSV upload, a pipeline spec as JSON or YAML, an Open Inference Protocol request over gRPC or REST, a model
 * package), the real decoding code each goes through, generators of hostile inputs, the inputs at the sizes the limits
 * allow, and which errors count as a clear rejection. Anything else thrown is a crash.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  checkJsonDepth,
  DEFAULT_MAX_DEPTH,
  DocumentTooDeepError,
  encodeCloudEventHeaders,
  type EventContract,
  eventRegistry,
  MalformedEventError,
  PIPELINE_SPEC_MAX_FEATURES,
  type PipelineSpecV1,
} from '@keel/contracts';
import { type ModelInferRequest, ModelInferRequest as ModelInferRequestCodec } from '@keel/grpc-api';
import { decodeRecord, type InboundRecord, RecordTooLargeError, SchemaValidationError } from '@keel/messaging';
import { createModelDocument, InvalidModelError, TransformRunner, trainGbdt } from '@keel/ml-models';
import {
  MAX_MODEL_PACKAGE_BYTES,
  type ModelPackage,
  PackageStructureError,
  parsePackage,
  serializePackage,
  type SignatureInput,
} from '@keel/model-package';
import { InvalidPipelineSpecError, parseSpecDocument } from '@keel/pipelines';
import { binaryTestPackage, fixtureCsvText, fixtureRecords, pipelineSpecFixture, repoRoot } from '@keel/testing';
import { type WorkerPool } from '@keel/workers';
import fc from 'fast-check';
import { stringify as stringifyYaml } from 'yaml';
import { MessageChannel } from 'node:worker_threads';
import {
  encodeUpload,
  fileUploadTask,
  type UploadBodyMessage,
  type UploadOutcome,
} from '../../apps/ingestion/src/uploads/file-upload.task';
import { parsePipelineSpecTask } from '../../apps/registry/src/pipelines/spec-parse.task';
import { decodeRestInferRequest } from '../../apps/serving/src/inference/rest/rest-codec';
import {
  decodeInferInputs,
  encodeRawBytes,
  InvalidInferInputError,
} from '../../apps/serving/src/inference/tensor-codec';
import { deepText, mutatedBytes, mutatedJson, mutatedText, nested } from './mutations';

/** What one case came to: accepted, or rejected with a reason (the error's kind and its message's shape). */
export type FuzzOutcome = { accepted: true } | { accepted: false; reason: string };

/** An error no caller can act on (a TypeError from inside a decoder, a stack overflow): the fuzz fails on it. */
export class FuzzCrash extends Error {
  constructor(
    readonly target: string,
    readonly error: unknown,
  ) {
    super(`${target}: unclear error ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    this.name = 'FuzzCrash';
  }
}

export interface FuzzTarget<Input = unknown> {
  /** `kafka:<topic>`, `csv-upload`, `spec:yaml`, `oip:grpc`, ... */
  readonly name: string;
  /** The setting that bounds this input in a running service, and its value. */
  readonly limit: { name: string; bytes: number };
  readonly arbitrary: fc.Arbitrary<Input>;
  /** Inputs at the sizes the limits allow (valid and hostile), decoded once each for the worst-case figures. */
  readonly largest: () => { label: string; input: Input }[];
  /** Runs the real decoder on one input, in this thread. */
  readonly decode: (input: Input) => FuzzOutcome | Promise<FuzzOutcome>;
  /**
   * For decoders a service runs on a worker thread: the service's own path, handing the input to a worker of a
   * {@link WorkerPool}. The runner measures the main thread's event loop on this path (what the service's loop holds
   * while a worker decodes), and `decode`'s figures are the worker's.
   */
  readonly offload?: (pool: WorkerPool, input: Input) => Promise<FuzzOutcome>;
}

/** A message's shape for grouping: quoted text, numbers and long tails folded. */
function shape(message: string): string {
  return message
    .replace(/"[^"]*"/g, '"…"')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .replace(/\s+/g, ' ')
    .slice(0, 90);
}

/** A rejection when `error` is one of `clear` and says something; a crash otherwise. */
function rejection(
  target: string,
  error: unknown,
  clear: readonly (abstract new (...args: never[]) => Error)[],
): FuzzOutcome {
  const isClear = clear.some((kind) => error instanceof kind) && (error as Error).message.trim().length > 0;
  if (!isClear) throw new FuzzCrash(target, error);
  const { name, message } = error as Error;
  return { accepted: false, reason: `${name}: ${shape(message.split(': ').slice(0, 2).join(': '))}` };
}

// ---------------------------------------------------------------------------------------------------------------
// Kafka events, every topic: the consumer's decode (size, depth, CloudEvent envelope, type, contract schema).

const KAFKA_MAX_RECORD_BYTES = 1_000_000;
const fixtureOf = (contract: EventContract): unknown =>
  JSON.parse(readFileSync(resolve(repoRoot, 'libs/contracts/src/fixtures', `${contract.topic}.json`), 'utf8'));

interface KafkaInput {
  headers: Record<string, string>;
  value: Buffer | null;
}

function kafkaTarget(contract: EventContract): FuzzTarget<KafkaInput> {
  const name = `kafka:${contract.topic}`;
  const fixture = fixtureOf(contract);
  const binaryHeaders = (type = contract.topic) =>
    encodeCloudEventHeaders({ id: 'fuzz-1', source: '/fuzz', type, specversion: '1.0' });
  const structured = (data: unknown, extra: Record<string, unknown> = {}) =>
    Buffer.from(
      JSON.stringify({ specversion: '1.0', id: 'fuzz-1', source: '/fuzz', type: contract.topic, data, ...extra }),
    );
  const headersArb = fc.oneof(
    { weight: 6, arbitrary: fc.constant(binaryHeaders()) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((type) => binaryHeaders(type)) },
    {
      weight: 1,
      arbitrary: fc
        .dictionary(
          fc.constantFrom('ce_id', 'ce_source', 'ce_type', 'ce_specversion', 'content-type', 'x'),
          fc.string(),
        )
        .map((extra) => ({ ...binaryHeaders(), ...extra })),
    },
  );
  const binaryValue = fc.oneof(
    { weight: 6, arbitrary: mutatedJson(fixture).map((data) => Buffer.from(JSON.stringify(data) ?? 'null')) },
    { weight: 1, arbitrary: fc.constant(Buffer.from(JSON.stringify(fixture))) },
    { weight: 2, arbitrary: fc.jsonValue().map((data) => Buffer.from(JSON.stringify(data) ?? 'null')) },
    { weight: 1, arbitrary: mutatedBytes(Buffer.from(JSON.stringify(fixture))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: deepText(5_000).map((text) => Buffer.from(text)) },
    { weight: 1, arbitrary: fc.constant(null) },
  );
  const structuredInput = mutatedJson(fixture).map((data) => ({
    headers: { 'content-type': 'application/cloudevents+json' },
    value: structured(data),
  }));
  return {
    name,
    limit: { name: 'KAFKA_MAX_RECORD_BYTES', bytes: KAFKA_MAX_RECORD_BYTES },
    arbitrary: fc.oneof(
      { weight: 8, arbitrary: fc.record({ headers: headersArb, value: binaryValue }) },
      { weight: 2, arbitrary: structuredInput },
    ),
    largest: () => {
      const fill = (data: unknown) => {
        // The fixture with its largest string (or a new field) padded so the record sits just under the limit.
        const text = JSON.stringify(data);
        const room = KAFKA_MAX_RECORD_BYTES - text.length - 400;
        return Buffer.from(`${text.slice(0, -1)},"padding":"${'p'.repeat(Math.max(0, room))}"}`);
      };
      return [
        { label: 'valid event padded to the limit', input: { headers: binaryHeaders(), value: fill(fixture) } },
        {
          label: 'arrays nested to the limit',
          input: { headers: binaryHeaders(), value: Buffer.from(nested(KAFKA_MAX_RECORD_BYTES / 2 - 1_000)) },
        },
        {
          label: 'one long number',
          input: {
            headers: binaryHeaders(),
            value: Buffer.from(`{"n":${'9'.repeat(KAFKA_MAX_RECORD_BYTES - 2_000)}}`),
          },
        },
        {
          label: 'four times the limit',
          input: { headers: binaryHeaders(), value: Buffer.alloc(4 * KAFKA_MAX_RECORD_BYTES, 0x20) },
        },
        ...(contract.topic === 'mlops.data.records.v1'
          ? [{ label: 'records up to the limit', input: maxRecords() }]
          : []),
      ];
    },
    decode: ({ headers, value }) => {
      const record: InboundRecord = { topic: contract.topic, partition: 0, offset: '0', key: null, value, headers };
      try {
        decodeRecord(contract, record);
        return { accepted: true };
      } catch (error) {
        return rejection(name, error, [
          MalformedEventError,
          SchemaValidationError,
          RecordTooLargeError,
          DocumentTooDeepError,
        ]);
      }
    },
  };
}

/** mlops.data.records.v1 with as many Adult records as fit under KAFKA_MAX_RECORD_BYTES: the heaviest valid event. */
function maxRecords(): KafkaInput {
  const rows = fixtureRecords('adult', { count: 6_000 });
  const records: unknown[] = [];
  let bytes = 200;
  for (const row of rows) {
    const size = JSON.stringify(row).length + 1;
    if (bytes + size > KAFKA_MAX_RECORD_BYTES - 1_000) break;
    records.push(row);
    bytes += size;
  }
  const data = { pipelineId: 'adult-income', source: 'fuzz', observedAt: '2026-12-02T00:00:00Z', records };
  return {
    headers: encodeCloudEventHeaders({
      id: 'fuzz',
      source: '/fuzz',
      type: 'mlops.data.records.v1',
      specversion: '1.0',
    }),
    value: Buffer.from(JSON.stringify(data)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// CSV uploads: the upload task's streaming parser, record checks and Parquet encoding.

const INGESTION_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

interface CsvInput {
  text: string;
  /** Where the body is cut into chunks, as the network delivers it. */
  cuts: number[];
}

async function* chunksOf(bytes: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array, boolean> {
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const at = Math.min(bytes.length, cut);
    if (at > from) yield bytes.subarray(from, at);
    from = Math.max(from, at);
  }
  if (from < bytes.length) yield bytes.subarray(from);
  return true;
}

function csvTarget(spec: PipelineSpecV1): FuzzTarget<CsvInput> {
  const name = 'csv-upload';
  const valid = fixtureCsvText('adult', { count: 30 });
  const text = fc.oneof(
    {
      weight: 5,
      arbitrary: mutatedText(valid, [',', '"', '""', '\r', '\n', '\r\n', '\uFEFF', '\0', ' ', '9'.repeat(80)]),
    },
    { weight: 1, arbitrary: fc.constant(valid) },
    {
      weight: 2,
      arbitrary: fc.string({ maxLength: 400, unit: fc.constantFrom(',', '"', '\n', '\r', 'a', '1', ' ', '.') }),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 65, max: 5_000 })
        .map((digits) => valid.replace(/\n39,/, `\n${'1'.repeat(digits)},`)),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 300, unit: 'binary' }) },
  );
  return {
    name,
    limit: { name: 'INGESTION_MAX_UPLOAD_BYTES', bytes: INGESTION_MAX_UPLOAD_BYTES },
    arbitrary: fc.record({ text, cuts: fc.array(fc.nat({ max: 4_000 }), { maxLength: 6 }) }),
    largest: () => {
      // 8 MiB streamed as 64 KiB chunks: the per-chunk cost is what matters, and it does not grow with the file.
      const rows = fixtureCsvText('adult', { count: 20_000 });
      const body = rows.repeat(Math.ceil((8 * 1024 * 1024) / rows.length)).replace(/\n[^\n]*\n?$/, '\n');
      const header = body.slice(0, body.indexOf('\n') + 1);
      const clean =
        header +
        body
          .split('\n')
          .slice(1)
          .filter((line) => line !== '' && line !== header.trim())
          .join('\n');
      const chunked = (t: string) => Array.from({ length: Math.ceil(t.length / 65_536) }, (_, i) => (i + 1) * 65_536);
      const quoted = `${header.trim()}\n"${'x'.repeat(8 * 1024 * 1024)}`;
      return [
        { label: '8 MiB of valid rows in 64 KiB chunks', input: { text: clean, cuts: chunked(clean) } },
        { label: 'an 8 MiB unterminated quoted field', input: { text: quoted, cuts: chunked(quoted) } },
      ];
    },
    decode: async ({ text: body, cuts }) => {
      const bytes = new TextEncoder().encode(body);
      try {
        return csvOutcome(await encodeUpload(spec, 'csv', chunksOf(bytes, cuts), { progress: () => undefined }));
      } catch (error) {
        throw new FuzzCrash(name, error);
      }
    },
    // What ingestion's UploadsService does: the body's chunks down a port to the upload task on a worker thread.
    offload: async (pool, { text: body, cuts }) => {
      const bytes = new TextEncoder().encode(body);
      const { port1: sender, port2: receiver } = new MessageChannel();
      const send = (message: UploadBodyMessage, transfer: ArrayBuffer[] = []) => sender.postMessage(message, transfer);
      const parsing = pool.run(fileUploadTask, { spec, format: 'csv', body: receiver }, { transferList: [receiver] });
      for await (const chunk of chunksOf(bytes, cuts)) {
        const copy = new Uint8Array(chunk);
        send({ chunk: copy }, [copy.buffer]);
      }
      send({ end: true });
      try {
        return csvOutcome(await parsing);
      } catch (error) {
        throw new FuzzCrash(name, error);
      } finally {
        sender.close();
      }
    },
  };
}

function csvOutcome(outcome: UploadOutcome): FuzzOutcome {
  if (outcome.kind === 'encoded') return { accepted: true };
  const detail = outcome.kind === 'malformed' ? outcome.problem : outcome.kind === 'rejected' ? outcome.issues[0] : '';
  return { accepted: false, reason: `${outcome.kind}: ${shape(detail.replace(/^line \d+: /, ''))}` };
}

// ---------------------------------------------------------------------------------------------------------------
// Pipeline specs: YAML (and JSON as YAML) text as the registry's text body, JSON through the HTTP JSON parser.

const SPEC_TEXT_LIMIT = 1024 * 1024;
const HTTP_MAX_JSON_BYTES = 1024 * 1024;

/** What the HTTP JSON body parser does before a controller sees the body (run-service.ts): depth, then JSON.parse. */
function httpJson(text: string): unknown {
  checkJsonDepth(text, DEFAULT_MAX_DEPTH);
  return JSON.parse(text);
}

function specTargets(spec: PipelineSpecV1): FuzzTarget<string>[] {
  const yaml = readFileSync(resolve(repoRoot, 'fixtures/pipelines/adult-income.yaml'), 'utf8');
  const specJson = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
  const aliasBomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    .concat(
      Array.from(
        { length: 9 },
        (_, i) => `${'bcdefghij'[i]}: &${'bcdefghij'[i]} [${Array(10).fill(`*${'abcdefghij'[i]}`).join(',')}]`,
      ),
    )
    .join('\n');
  const wideFeatures = (count: number) =>
    JSON.stringify({
      ...specJson,
      features: Array.from({ length: count }, (_, i) => ({ name: `f${i}`, type: 'numeric' })),
    });
  // The heaviest valid spec: PIPELINE_SPEC_MAX_FEATURES features with every option spelled out, a drift test each.
  const fullFeatures = (count: number) => {
    const features = Array.from({ length: count }, (_, i) =>
      i % 2 === 0
        ? { name: `f${i}`, type: 'numeric', impute: 'mean', standardize: true, nullable: true }
        : { name: `f${i}`, type: 'categorical', encoding: 'onehot', unknown: 'missing', nullable: true },
    );
    const monitoring = (specJson.monitoring ?? {}) as Record<string, unknown>;
    const drift = Object.fromEntries(features.map((f) => [f.name, { statistic: 'psi', threshold: 0.2 }]));
    return {
      ...specJson,
      features,
      monitoring: { ...monitoring, drift: { ...((monitoring.drift as object) ?? {}), features: drift } },
    };
  };
  const asYaml = (value: unknown) => stringifyYaml(value);
  // 1 MiB of the smallest YAML values: the most a parser must build from one body (parsed on a worker thread).
  const smallValues = `features:\n${'- 1\n'.repeat(Math.floor(SPEC_TEXT_LIMIT / 4) - 4)}`;
  const yamlTarget: FuzzTarget<string> = {
    name: 'spec:yaml',
    limit: { name: 'the registry’s spec body (1 MiB)', bytes: SPEC_TEXT_LIMIT },
    arbitrary: fc.oneof(
      {
        weight: 5,
        arbitrary: mutatedText(yaml, [':', '- ', '&a ', '*a', '{', '[', '"', "'", '\n  ', '!!binary ', '<<: ']),
      },
      { weight: 1, arbitrary: fc.constant(yaml) },
      { weight: 2, arbitrary: mutatedJson(specJson).map((value) => JSON.stringify(value) ?? '') },
      { weight: 1, arbitrary: deepText(10_000) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 10, max: 3_000 })
          .map((depth) => Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
    ),
    largest: () => {
      const indentDepth = Math.floor(Math.sqrt(2 * SPEC_TEXT_LIMIT)) - 10;
      return [
        { label: 'flow arrays nested to the limit', input: nested(SPEC_TEXT_LIMIT / 2 - 10) },
        {
          label: 'block mappings indented to the limit',
          input: Array.from({ length: indentDepth }, (_, i) => `${' '.repeat(i)}k:`).join('\n'),
        },
        { label: 'alias expansion (10^10 nodes if expanded)', input: aliasBomb },
        { label: '1 MiB spec with ~15,000 features', input: wideFeatures(15_000).slice(0, SPEC_TEXT_LIMIT) },
        { label: '1 MiB spec with 10,000 features (valid JSON)', input: wideFeatures(10_000) },
        { label: '1 MiB of one-digit YAML list items', input: smallValues },
        {
          label: `${PIPELINE_SPEC_MAX_FEATURES} features, all options, drift tests (the cap)`,
          input: asYaml(fullFeatures(PIPELINE_SPEC_MAX_FEATURES)),
        },
      ];
    },
    decode: (text) => {
      try {
        parseSpecDocument(text);
        return { accepted: true };
      } catch (error) {
        return rejection('spec:yaml', error, [InvalidPipelineSpecError]);
      }
    },
    // What the registry's PipelinesService does with a text body: parse and validate on a worker thread.
    offload: async (pool, text) => {
      const outcome = await pool.run(parsePipelineSpecTask, text);
      if (outcome.ok) return { accepted: true };
      return rejection('spec:yaml', new InvalidPipelineSpecError(outcome.issues), [InvalidPipelineSpecError]);
    },
  };
  const jsonTarget: FuzzTarget<string> = {
    name: 'spec:json',
    limit: { name: 'HTTP_MAX_JSON_BYTES', bytes: HTTP_MAX_JSON_BYTES },
    arbitrary: fc.oneof(
      { weight: 6, arbitrary: mutatedJson(specJson).map((value) => JSON.stringify(value) ?? '') },
      { weight: 1, arbitrary: fc.constant(JSON.stringify(specJson)) },
      { weight: 1, arbitrary: mutatedText(JSON.stringify(specJson), ['{', '[', '"', ',', ':', '\\u0000', '1e999']) },
      { weight: 1, arbitrary: deepText(20_000) },
      { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
    ),
    largest: () => [
      { label: 'arrays nested to the limit', input: nested(HTTP_MAX_JSON_BYTES / 2 - 10) },
      { label: 'objects nested to the limit', input: nested(HTTP_MAX_JSON_BYTES / 6 - 10, '1', 'object') },
      { label: '1 MiB spec with 10,000 features', input: wideFeatures(10_000) },
      {
        label: `${PIPELINE_SPEC_MAX_FEATURES} features, all options, drift tests (the cap)`,
        input: JSON.stringify(fullFeatures(PIPELINE_SPEC_MAX_FEATURES)),
      },
      { label: '1 MiB of one-digit array items', input: `{"features":[${Array(SPEC_TEXT_LIMIT / 2 - 20).fill(1)}]}` },
      { label: 'one number of 1 MiB digits', input: `{"id":${'9'.repeat(HTTP_MAX_JSON_BYTES - 10)}}` },
    ],
    decode: (text) => {
      try {
        parseSpecDocument(httpJson(text));
        return { accepted: true };
      } catch (error) {
        return rejection('spec:json', error, [InvalidPipelineSpecError, DocumentTooDeepError, SyntaxError]);
      }
    },
  };
  return [yamlTarget, jsonTarget];
}

// ---------------------------------------------------------------------------------------------------------------
// Open Inference Protocol: ModelInferRequest off the wire, REST JSON and REST with the binary extension.

const GRPC_MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
const SERVING_MAX_ROWS = 10_000;
/** The model the generated OIP requests name (the live fuzz names the model it trained; see live/live-fuzz.ts). */
export interface InferTarget {
  modelName: string;
  modelVersion: string;
}
const TARGET: InferTarget = { modelName: 'adult-income', modelVersion: '1' };

/** A valid request of `rows` Adult rows, one tensor per column. */
function inferRequest(signature: readonly SignatureInput[], rows: number, model = TARGET): ModelInferRequest {
  const records = fixtureRecords('adult', { count: Math.min(rows, 1_000) });
  const at = (i: number) => records[i % records.length];
  return {
    modelName: model.modelName,
    modelVersion: model.modelVersion,
    id: 'fuzz',
    parameters: {},
    outputs: [],
    rawInputContents: [],
    inputs: signature.map((input) => ({
      name: input.name,
      datatype: input.kind === 'numeric' ? 'FP64' : 'BYTES',
      shape: [rows],
      parameters: {},
      contents:
        input.kind === 'numeric'
          ? {
              ...emptyContents(),
              fp64Contents: Array.from({ length: rows }, (_, i) => Number(at(i)[input.name] ?? NaN)),
            }
          : {
              ...emptyContents(),
              bytesContents: Array.from({ length: rows }, (_, i) => Buffer.from(String(at(i)[input.name] ?? ''))),
            },
    })),
  };
}

function emptyContents() {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
  };
}

/** Requests built from parts (names, datatypes, shapes and contents at random), then encoded. */
function structuredRequests(signature: readonly SignatureInput[], model: InferTarget): fc.Arbitrary<ModelInferRequest> {
  const names = [...signature.map((input) => input.name), 'unknown', ''];
  const tensor = fc.record({
    name: fc.constantFrom(...names),
    datatype: fc.constantFrom('FP64', 'FP32', 'INT64', 'INT32', 'BYTES', 'BOOL', 'UINT8', ''),
    shape: fc.array(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constantFrom(2 ** 31, 2 ** 53 - 1, 1e12)), {
      maxLength: 4,
    }),
    parameters: fc.constant({}),
    contents: fc.option(
      fc.record({
        ...Object.fromEntries(Object.keys(emptyContents()).map((key) => [key, fc.constant([])])),
        fp64Contents: fc.array(fc.double(), { maxLength: 12 }),
        int64Contents: fc.array(fc.integer(), { maxLength: 12 }),
        bytesContents: fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 12 }),
      }) as fc.Arbitrary<ReturnType<typeof emptyContents>>,
      { nil: undefined },
    ),
  });
  return fc.record({
    modelName: fc.constant(model.modelName),
    modelVersion: fc.constant(model.modelVersion),
    id: fc.string({ maxLength: 20 }),
    parameters: fc.constant({}),
    outputs: fc.constant([]),
    inputs: fc.array(tensor, { maxLength: 10 }),
    rawInputContents: fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 3 }),
  });
}

function grpcTarget(signature: readonly SignatureInput[], model: InferTarget): FuzzTarget<Buffer> {
  const name = 'oip:grpc ModelInfer';
  const encode = (request: ModelInferRequest) => Buffer.from(ModelInferRequestCodec.encode(request).finish());
  const valid = encode(inferRequest(signature, 3, model));
  return {
    name,
    limit: { name: 'GRPC_MAX_RECEIVE_BYTES', bytes: GRPC_MAX_RECEIVE_BYTES },
    arbitrary: fc.oneof(
      { weight: 4, arbitrary: structuredRequests(signature, model).map(encode) },
      { weight: 3, arbitrary: mutatedBytes(valid) },
      { weight: 1, arbitrary: fc.constant(valid) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes)) },
    ),
    largest: () => {
      const rows = inferRequest(signature, SERVING_MAX_ROWS, model);
      const fat = encode({
        ...rows,
        inputs: rows.inputs.map((input) => ({ ...input, shape: [SERVING_MAX_ROWS] })),
        rawInputContents: [],
      });
      const stringsTo = (bytes: number) =>
        encode({
          ...inferRequest(signature, 1, model),
          inputs: [{ name: 'workclass', datatype: 'BYTES', shape: [1], parameters: {}, contents: undefined }],
          rawInputContents: [encodeRawBytes(['x'.repeat(bytes - 200)])],
        });
      return [
        { label: `${SERVING_MAX_ROWS} valid rows`, input: fat },
        { label: 'one 16 MiB string', input: stringsTo(GRPC_MAX_RECEIVE_BYTES - 1_000) },
        {
          label: '16 MiB of FP64 contents in one column',
          input: encode({
            ...inferRequest(signature, 1, model),
            inputs: [
              {
                name: 'age',
                datatype: 'FP64',
                shape: [Math.floor(GRPC_MAX_RECEIVE_BYTES / 9)],
                parameters: {},
                contents: {
                  ...emptyContents(),
                  fp64Contents: new Array(Math.floor(GRPC_MAX_RECEIVE_BYTES / 9)).fill(1),
                },
              },
            ],
          }),
        },
      ];
    },
    decode: (bytes) => {
      let request: ModelInferRequest;
      try {
        request = ModelInferRequestCodec.decode(bytes);
      } catch (error) {
        // grpc-js answers a message that does not deserialize with INTERNAL before any handler runs.
        if (error instanceof Error && error.message)
          return { accepted: false, reason: `wire format: ${shape(error.message)}` };
        throw new FuzzCrash(name, error);
      }
      try {
        decodeInferInputs(request, signature, SERVING_MAX_ROWS);
        return { accepted: true };
      } catch (error) {
        return rejection(name, error, [InvalidInferInputError]);
      }
    },
  };
}

function restTargets(signature: readonly SignatureInput[], model: InferTarget): FuzzTarget[] {
  const records = fixtureRecords('adult', { count: 3 });
  const body = (rows: typeof records) => ({
    id: 'fuzz',
    inputs: signature.map((input) => ({
      name: input.name,
      shape: [rows.length],
      datatype: input.kind === 'numeric' ? 'FP64' : 'BYTES',
      data: rows.map((row) =>
        input.kind === 'numeric' ? Number(row[input.name] ?? NaN) : String(row[input.name] ?? ''),
      ),
    })),
  });
  const valid = body(records);
  const jsonName = 'oip:rest JSON';
  const json: FuzzTarget<string> = {
    name: jsonName,
    limit: { name: 'HTTP_MAX_JSON_BYTES', bytes: HTTP_MAX_JSON_BYTES },
    arbitrary: fc.oneof(
      { weight: 6, arbitrary: mutatedJson(valid).map((value) => JSON.stringify(value) ?? '') },
      { weight: 1, arbitrary: fc.constant(JSON.stringify(valid)) },
      { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 10, max: 50_000 })
          .map((depth) => JSON.stringify(valid).replace('"data":[', `"data":[${nested(depth)},`)),
      },
    ),
    largest: () => {
      // As many rows as one body at the limit holds (SERVING_MAX_ROWS caps them too).
      const many = fixtureRecords('adult', { count: SERVING_MAX_ROWS });
      let rows = many;
      while (JSON.stringify(body(rows)).length > HTTP_MAX_JSON_BYTES)
        rows = rows.slice(0, Math.floor(rows.length * 0.98));
      return [
        { label: `${rows.length} valid rows (1 MiB)`, input: JSON.stringify(body(rows)) },
        {
          label: 'data nested to the limit',
          input: `{"inputs":[{"name":"age","shape":[1],"datatype":"FP64","data":${nested(HTTP_MAX_JSON_BYTES / 2 - 100)}}]}`,
        },
        {
          label: 'shape declaring 10^15 rows',
          input: JSON.stringify({ inputs: [{ name: 'age', shape: [1e15], datatype: 'FP64', data: [1] }] }),
        },
      ];
    },
    decode: (text) => {
      try {
        const { request } = decodeRestInferRequest(httpJson(text), model);
        decodeInferInputs(request, signature, SERVING_MAX_ROWS);
        return { accepted: true };
      } catch (error) {
        return rejection(jsonName, error, [InvalidInferInputError, DocumentTooDeepError, SyntaxError]);
      }
    },
  };
  const binaryName = 'oip:rest binary extension';
  const binaryBody = (header: unknown, data: Buffer) => {
    const head = Buffer.from(JSON.stringify(header) ?? '');
    return { bytes: Buffer.concat([head, data]), headerLength: head.length };
  };
  const ages = Buffer.from(new Float64Array([39, 50, 38]).buffer);
  const validBinary = {
    inputs: [{ name: 'age', shape: [3], datatype: 'FP64', parameters: { binary_data_size: ages.length } }],
  };
  const binary: FuzzTarget<{ bytes: Buffer; headerLength: number }> = {
    name: binaryName,
    limit: { name: 'HTTP_MAX_JSON_BYTES', bytes: HTTP_MAX_JSON_BYTES },
    arbitrary: fc.oneof(
      { weight: 4, arbitrary: mutatedJson(validBinary).map((header) => binaryBody(header, ages)) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(mutatedBytes(binaryBody(validBinary, ages).bytes), fc.integer({ min: -5, max: 400 }))
          .map(([bytes, headerLength]) => ({ bytes, headerLength })),
      },
      { weight: 1, arbitrary: fc.constant(binaryBody(validBinary, ages)) },
      {
        weight: 1,
        arbitrary: fc.integer({ min: 10, max: 50_000 }).map((depth) => ({
          bytes: Buffer.from(`{"inputs":[{"name":"age","shape":[1],"datatype":"FP64","data":${nested(depth)}}]}`),
          headerLength: 70 + 2 * depth,
        })),
      },
    ),
    largest: () => {
      const n = SERVING_MAX_ROWS;
      const column = Buffer.from(new Float64Array(n).fill(40).buffer);
      const strings = encodeRawBytes(Array.from({ length: n }, () => 'Private'));
      const header = {
        inputs: signature.map((input) => ({
          name: input.name,
          shape: [n],
          datatype: input.kind === 'numeric' ? 'FP64' : 'BYTES',
          parameters: { binary_data_size: input.kind === 'numeric' ? column.length : strings.length },
        })),
      };
      const data = Buffer.concat(signature.map((input) => (input.kind === 'numeric' ? column : strings)));
      const deep = Buffer.from(
        `{"inputs":[{"name":"age","shape":[1],"datatype":"FP64","data":${nested(HTTP_MAX_JSON_BYTES / 2 - 100)}}]}`,
      );
      return [
        { label: `${n} valid rows, binary`, input: binaryBody(header, data) },
        { label: 'JSON header nested to the limit', input: { bytes: deep, headerLength: deep.length } },
      ];
    },
    decode: ({ bytes, headerLength }) => {
      try {
        const { request } = decodeRestInferRequest(bytes, model, headerLength);
        decodeInferInputs(request, signature, SERVING_MAX_ROWS);
        return { accepted: true };
      } catch (error) {
        return rejection(binaryName, error, [InvalidInferInputError, DocumentTooDeepError]);
      }
    },
  };
  return [json as FuzzTarget, binary as FuzzTarget];
}

// ---------------------------------------------------------------------------------------------------------------
// Model packages: serving's and the registry's parse and structural validation.

function gbdtPackage(
  spec: PipelineSpecV1,
  linear: ModelPackage,
  rows: ReturnType<typeof fixtureRecords>,
): ModelPackage {
  const preprocessing = linear.model.preprocessing!;
  const columns = Object.fromEntries(
    spec.features.map((f) => [f.name, rows.map((row) => (row[f.name] as never) ?? null)]),
  );
  const x = new TransformRunner(preprocessing).table(columns);
  const y = rows.map((row) => (String(row[spec.target.column]) === String(spec.target.positive) ? 1 : 0));
  const { model } = trainGbdt(x, y, { objective: 'binary', maxIterations: 8, maxLeaves: 8, minSamplesLeaf: 5 });
  return {
    ...linear,
    model: createModelDocument({ model, preprocessing, classes: linear.model.classes }),
  };
}

function packageTarget(spec: PipelineSpecV1): FuzzTarget<Buffer> {
  const name = 'model-package';
  const rows = fixtureRecords('adult', { count: 300, numeric: spec });
  const linear = binaryTestPackage(spec, rows);
  const gbdt = gbdtPackage(spec, linear, rows);
  const asJson = (pkg: ModelPackage) => JSON.parse(serializePackage(pkg).toString()) as unknown;
  const gbdtJson = asJson(gbdt) as { model: { model: Record<string, unknown> } };
  const treeOnly = gbdtJson.model.model;
  return {
    name,
    limit: { name: 'MAX_MODEL_PACKAGE_BYTES', bytes: MAX_MODEL_PACKAGE_BYTES },
    arbitrary: fc.oneof(
      { weight: 3, arbitrary: mutatedJson(gbdtJson).map((value) => Buffer.from(JSON.stringify(value) ?? '')) },
      {
        weight: 3,
        arbitrary: mutatedJson(treeOnly).map((body) =>
          Buffer.from(JSON.stringify({ ...gbdtJson, model: { ...gbdtJson.model, model: body } })),
        ),
      },
      { weight: 2, arbitrary: mutatedJson(asJson(linear)).map((value) => Buffer.from(JSON.stringify(value) ?? '')) },
      { weight: 1, arbitrary: fc.constantFrom(serializePackage(gbdt), serializePackage(linear)) },
      { weight: 1, arbitrary: mutatedBytes(serializePackage(gbdt)) },
      { weight: 1, arbitrary: deepText(5_000).map((text) => Buffer.from(text)) },
    ),
    largest: () => {
      // A forest grown to `mb` MiB of package: the trained trees repeated (indices shifted, so still a valid forest).
      const forest = (mb: number) => {
        const m = treeOnly as unknown as Record<string, number[]>;
        const n = m.feature.length;
        // The trees' share of the package, so the copies bring the whole package to about `mb` MiB.
        const perCopy = JSON.stringify(treeOnly).length;
        const rest = serializePackage(gbdt).length - perCopy;
        const copies = Math.max(1, Math.floor((mb * 1024 * 1024 - rest) / perCopy));
        const shift = (values: number[], by: number) => values.map((v) => (v < 0 ? v : v + by));
        const grown: Record<string, unknown> = { ...m };
        for (const key of ['feature', 'threshold', 'missingLeft', 'value'] as const) {
          grown[key] = Array.from({ length: copies }, () => m[key]).flat();
        }
        const cats = m.catBits.length;
        for (const key of ['left', 'right', 'treeRoots'] as const) {
          grown[key] = Array.from({ length: copies }, (_, c) => shift(m[key], c * n)).flat();
        }
        grown.catOffset = Array.from({ length: copies }, (_, c) => shift(m.catOffset, c * cats)).flat();
        grown.catBits = Array.from({ length: copies }, () => m.catBits).flat();
        grown.treeOutputs = Array.from({ length: copies }, () => m.treeOutputs).flat();
        return Buffer.from(JSON.stringify({ ...gbdtJson, model: { ...gbdtJson.model, model: grown } }));
      };
      return [
        { label: '1 MiB forest (the training defaults give up to ~1.1 MiB)', input: forest(1) },
        { label: 'forest at the limit', input: forest(MAX_MODEL_PACKAGE_BYTES / 1024 / 1024 - 0.05) },
        { label: 'nested to 1 MiB', input: Buffer.from(nested(512 * 1024)) },
      ];
    },
    decode: (bytes) => {
      try {
        parsePackage(bytes);
        return { accepted: true };
      } catch (error) {
        // parsePackage's format checks throw plain Errors naming the field; fetchModelPackage wraps every one.
        const plain = error instanceof Error && error.constructor === Error;
        if (plain) return { accepted: false, reason: `Error: ${shape((error as Error).message)}` };
        return rejection(name, error, [PackageStructureError, InvalidModelError, DocumentTooDeepError]);
      }
    },
  };
}

/** Every target, built once (the package targets train two small models on Adult rows). */
export function fuzzTargets({ model = TARGET }: { model?: InferTarget } = {}): FuzzTarget[] {
  const spec = pipelineSpecFixture('adult-income', { id: 'adult-income' });
  const signature = binaryTestPackage(spec, fixtureRecords('adult', { count: 50, numeric: spec })).signature.inputs;
  return [
    ...eventRegistry.map((contract) => kafkaTarget(contract) as FuzzTarget),
    csvTarget(spec) as FuzzTarget,
    ...(specTargets(spec) as FuzzTarget[]),
    grpcTarget(signature, model) as FuzzTarget,
    ...restTargets(signature, model),
    packageTarget(spec) as FuzzTarget,
  ];
}
