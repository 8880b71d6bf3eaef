import {
  type DecodedModelInferRequest,
  type DecodedTensorContents,
  type InferParameter,
  type InferTensorContents,
  type ModelInferResponse,
} from '@keel/grpc-api';
import { checkJsonDepth } from '@keel/contracts';
import { z } from 'zod';
import { rawTensorBytes } from '../output-codec';
import { encodeRawBytes, InvalidInferInputError } from '../tensor-codec';

/**
 * The Open Inference Protocol's REST binding (KServe v2) mapped onto the gRPC messages, so both bindings share one
 * decoder, one model call and one error model. Also Triton's binary-data extension, which tritonclient.http uses: a
 * JSON header of `Inference-Header-Content-Length` bytes followed by the raw bytes of the inputs that declare
 * `binary_data_size`; outputs asked for with `binary_data: true` come back the same way.
 */

/** The header that splits a binary-extension body into its JSON part and its binary part. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

const parameterValue = z.union([z.string(), z.number(), z.boolean()]);
const parameters = z.record(z.string(), parameterValue).optional();

/** Values of `data` as JSON allows them: nested row-major arrays of numbers, strings, booleans, or null (missing). */
type JsonData = number | string | boolean | null | JsonData[];

/**
 * Whether `values` is nested arrays of finite numbers, strings, booleans and nulls: one plain walk, not a recursive
 * zod union per value. A 1 MiB body carries ~100,000 values, and the union held serving's event loop 30-70 ms per
 * such request (300 ms before the JIT warmed up; npm run fuzz:live); the walk takes a few. Nesting is bounded
 * before parsing (JSON_MAX_DEPTH), and the walk keeps its own stack, so no input deepens the call stack.
 */
function isJsonData(values: unknown): values is JsonData[] {
  if (!Array.isArray(values)) return false;
  const pending: unknown[][] = [values];
  while (pending.length > 0) {
    for (const value of pending.pop()!) {
      if (Array.isArray(value)) pending.push(value);
      else if (typeof value === 'number' ? !Number.isFinite(value) : !isJsonScalar(value)) return false;
    }
  }
  return true;
}

const isJsonScalar = (value: unknown) => value === null || typeof value === 'string' || typeof value === 'boolean';

const jsonData = z.custom<JsonData[]>(isJsonData, {
  message: 'must be (nested) arrays of numbers, strings, booleans or null',
});

const inputTensor = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().min(0)),
  datatype: z.string().min(1),
  parameters,
  data: jsonData.optional(),
});

const requestedOutput = z.object({ name: z.string().min(1), parameters });

const inferRequestBody = z.object({
  id: z.string().optional(),
  parameters,
  inputs: z.array(inputTensor).min(1, 'the request has no inputs'),
  outputs: z.array(requestedOutput).optional(),
});

type InferRequestBody = z.infer<typeof inferRequestBody>;

/** A REST infer request as the gRPC message, plus which outputs the caller wants as binary data. */
export interface DecodedRestRequest {
  request: DecodedModelInferRequest;
  /** Output names to answer in binary; `true`: every output (`binary_data_output` on the request). */
  binaryOutputs: Set<string> | true;
}

/**
 * Parses an infer body: plain JSON, or (when `headerLength` is given) a JSON header followed by binary input data.
 * Every structural mistake is an InvalidInferInputError (400) saying what is wrong.
 */
export function decodeRestInferRequest(
  body: Buffer | unknown,
  target: { modelName: string; modelVersion: string },
  headerLength?: number,
): DecodedRestRequest {
  let json: unknown = body;
  let binary: Buffer = Buffer.alloc(0);
  if (Buffer.isBuffer(body)) {
    const split = headerLength ?? body.length;
    if (split > body.length) {
      throw new InvalidInferInputError(
        `Inference-Header-Content-Length is ${split} but the body has only ${body.length} bytes`,
      );
    }
    try {
      // Bounded before parsing: the schema of `data` is recursive (JSON_MAX_DEPTH's default, as for JSON bodies).
      checkJsonDepth(body.subarray(0, split));
    } catch (error) {
      throw new InvalidInferInputError((error as Error).message);
    }
    try {
      json = JSON.parse(body.subarray(0, split).toString('utf8'));
    } catch (error) {
      throw new InvalidInferInputError(`the request's JSON does not parse: ${(error as Error).message}`);
    }
    binary = body.subarray(split);
  }
  const parsed = inferRequestBody.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInferInputError(`invalid infer request at ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const body_ = parsed.data;
  const binaryInputs = body_.inputs.some((input) => input.parameters?.binary_data_size !== undefined);
  const request: DecodedModelInferRequest = {
    modelName: target.modelName,
    modelVersion: target.modelVersion,
    id: body_.id ?? '',
    parameters: requestParameters(body_.parameters),
    inputs: [],
    outputs: (body_.outputs ?? []).map((output) => ({ name: output.name, parameters: {} })),
    rawInputContents: [],
  };
  if (binaryInputs) {
    // Some inputs are binary: send every input raw, so one decoder (tensor-codec's raw path) validates them all.
    let offset = 0;
    for (const input of body_.inputs) {
      const size = input.parameters?.binary_data_size;
      let bytes: Buffer;
      if (size !== undefined) {
        if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
          throw new InvalidInferInputError(`input "${input.name}" has an invalid binary_data_size`, input.name);
        }
        if (offset + size > binary.length) {
          throw new InvalidInferInputError(
            `input "${input.name}" declares ${size} bytes of binary data but only ${binary.length - offset} remain`,
            input.name,
          );
        }
        bytes = binary.subarray(offset, offset + size);
        offset += size;
      } else {
        bytes = rawTensorBytesOf(input);
      }
      request.inputs.push({
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        parameters: {},
        contents: undefined,
      });
      request.rawInputContents.push(bytes);
    }
    if (offset !== binary.length) {
      throw new InvalidInferInputError(`the body has ${binary.length - offset} bytes of binary data no input declares`);
    }
  } else {
    if (binary.length > 0)
      throw new InvalidInferInputError('the body has binary data but no input declares binary_data_size');
    for (const input of body_.inputs) {
      request.inputs.push({
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        parameters: {},
        contents: contentsOf(input),
      });
    }
  }
  return { request, binaryOutputs: binaryOutputsOf(body_) };
}

/** The REST response: JSON alone, or a JSON header followed by the binary outputs' bytes. */
export interface EncodedRestResponse {
  json: Record<string, unknown>;
  /** Present when some output is binary; the header length goes in Inference-Header-Content-Length. */
  binary?: Buffer[];
}

/** Maps a ModelInferResponse (typed contents or raw outputs) onto the REST shape, binary where asked. */
export function encodeRestInferResponse(
  response: ModelInferResponse,
  binaryOutputs: Set<string> | true,
): EncodedRestResponse {
  const binary: Buffer[] = [];
  const outputs = response.outputs.map((output, i) => {
    const raw = response.rawOutputContents[i] as Uint8Array | undefined;
    const base = { name: output.name, datatype: output.datatype, shape: output.shape };
    if (binaryOutputs === true || binaryOutputs.has(output.name)) {
      const bytes = raw ? Buffer.from(raw) : rawTensorBytes(output.datatype, output.contents!);
      binary.push(bytes);
      return { ...base, parameters: { binary_data_size: bytes.length } };
    }
    return {
      ...base,
      data: raw ? jsonValuesOfRaw(output.datatype, raw) : jsonValuesOf(output.datatype, output.contents!),
    };
  });
  const json = {
    model_name: response.modelName,
    model_version: response.modelVersion,
    id: response.id,
    parameters: jsonParameters(response.parameters),
    outputs,
  };
  return binary.length > 0 ? { json, binary } : { json };
}

/** OIP parameters as plain JSON values. */
export function jsonParameters(parameters: { [key: string]: InferParameter }): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(parameters).map(([key, value]) => [
      key,
      value.stringParam ?? value.int64Param ?? value.doubleParam ?? value.boolParam ?? value.uint64Param,
    ]),
  );
}

function binaryOutputsOf(body: InferRequestBody): Set<string> | true {
  if (body.parameters?.binary_data_output === true) return true;
  return new Set((body.outputs ?? []).filter((o) => o.parameters?.binary_data === true).map((o) => o.name));
}

/** Flattens nested row-major `data`. */
function flatten(data: readonly JsonData[]): (number | string | boolean | null)[] {
  return (data as JsonData[]).flat(Infinity as 1) as (number | string | boolean | null)[];
}

/**
 * A JSON input as typed contents, in the shape the fast gRPC decoder leaves them (tensor-codec reads both): FP64
 * values straight into a Float64Array and BYTES elements as the strings JSON.parse made, not encoded to UTF-8 only
 * to be decoded again (a 1 MiB body has ~70,000 of them). Null in a floating-point tensor is NaN, the protocol's
 * "missing".
 */
function contentsOf(input: z.infer<typeof inputTensor>): DecodedTensorContents {
  const values = flatten(input.data ?? []);
  const contents: DecodedTensorContents = {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
  };
  switch (input.datatype) {
    case 'FP64': {
      const numbers = new Float64Array(values.length);
      for (let i = 0; i < values.length; i++) numbers[i] = numberOf(input.name, values[i], true);
      contents.fp64Contents = numbers;
      return contents;
    }
    case 'FP32':
      contents.fp32Contents = values.map((value) => numberOf(input.name, value, true));
      return contents;
    case 'INT64':
    case 'INT32': {
      const integers = values.map((value) => integerOf(input.name, value));
      if (input.datatype === 'INT64') contents.int64Contents = integers;
      else contents.intContents = integers;
      return contents;
    }
    case 'BYTES': {
      const strings = new Array<string>(values.length);
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (typeof value !== 'string') {
          throw new InvalidInferInputError(`input "${input.name}" is BYTES: its data must be strings`, input.name);
        }
        strings[i] = wellFormed(value);
      }
      contents.bytesContents = strings;
      return contents;
    }
    default:
      throw new InvalidInferInputError(
        `input "${input.name}" has datatype ${input.datatype}; send FP64, FP32, INT64, INT32 or BYTES`,
        input.name,
      );
  }
}

/**
 * The text with any lone surrogate (JSON may escape one, UTF-8 cannot carry it) replaced by U+FFFD, as encoding it
 * to UTF-8 did; a one-byte string is returned as it is. String.prototype.toWellFormed is ES2024 (Node 20+), past the
 * project's ES2023 lib.
 */
const wellFormed = (text: string): string => (text as string & { toWellFormed(): string }).toWellFormed();

/** A JSON input encoded as the raw bytes the binary extension would have carried. */
function rawTensorBytesOf(input: z.infer<typeof inputTensor>): Buffer {
  const values = flatten(input.data ?? []);
  switch (input.datatype) {
    case 'FP64':
    case 'FP32': {
      const width = input.datatype === 'FP64' ? 8 : 4;
      const bytes = Buffer.alloc(values.length * width);
      values.forEach((value, i) => {
        const number = numberOf(input.name, value, true);
        if (width === 8) bytes.writeDoubleLE(number, i * 8);
        else bytes.writeFloatLE(number, i * 4);
      });
      return bytes;
    }
    case 'INT64':
    case 'INT32': {
      const width = input.datatype === 'INT64' ? 8 : 4;
      const bytes = Buffer.alloc(values.length * width);
      values.forEach((value, i) => {
        const integer = integerOf(input.name, value);
        if (width === 8) bytes.writeBigInt64LE(BigInt(integer), i * 8);
        else bytes.writeInt32LE(integer, i * 4);
      });
      return bytes;
    }
    default:
      // BYTES, and the refusal of any other datatype, as the typed path does them.
      return encodeRawBytes(contentsOf(input).bytesContents as string[]);
  }
}

function numberOf(input: string, value: unknown, nullIsMissing: boolean): number {
  if (value === null && nullIsMissing) return Number.NaN;
  if (typeof value !== 'number') {
    throw new InvalidInferInputError(
      `input "${input}" is numeric: its data must be numbers (or null if missing)`,
      input,
    );
  }
  return value;
}

function integerOf(input: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidInferInputError(`input "${input}" is an integer tensor: its data must be integers`, input);
  }
  return value;
}

function jsonValuesOf(datatype: string, contents: InferTensorContents): (number | string)[] {
  if (datatype === 'BYTES') return contents.bytesContents.map((value) => Buffer.from(value).toString('utf8'));
  return contents.fp64Contents;
}

function jsonValuesOfRaw(datatype: string, raw: Uint8Array): (number | string)[] {
  const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (datatype === 'FP64') return Array.from({ length: bytes.length / 8 }, (_, i) => bytes.readDoubleLE(i * 8));
  const values: string[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const length = bytes.readUInt32LE(offset);
    values.push(bytes.toString('utf8', offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return values;
}

/** The request's string parameters (the routing key among them) as the gRPC message carries them. */
function requestParameters(
  given: Record<string, string | number | boolean> | undefined,
): Record<string, InferParameter> {
  const out: Record<string, InferParameter> = {};
  for (const [name, value] of Object.entries(given ?? {})) {
    if (typeof value === 'string') out[name] = { stringParam: value };
  }
  return out;
}
