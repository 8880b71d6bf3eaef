import { type handleUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  type GRPCInferenceServiceServer,
  GRPCInferenceServiceService,
  InferTensorContents,
  type ModelInferRequest,
  ModelInferRequest_InferInputTensor_ParametersEntry,
  ModelInferRequest_InferRequestedOutputTensor,
  type ModelInferRequest_InferInputTensor,
  ModelInferRequest_ParametersEntry,
  type ModelInferResponse,
} from './generated/inference/grpc_predict_v2.pb';
import { encodeModelInferResponse } from './infer-response-encoder';

/**
 * A tensor's typed contents as the fast decoder leaves them: FP64 values already in a Float64Array (one copy of the
 * packed bytes) and each ASCII BYTES element already a string (shared between requests); a non-ASCII element stays
 * as its bytes, for the caller to validate and decode. Every other field is as ts-proto decodes it.
 */
export interface DecodedTensorContents extends Omit<InferTensorContents, 'fp64Contents' | 'bytesContents'> {
  fp64Contents: number[] | Float64Array;
  bytesContents: (Uint8Array | string)[];
}

export interface DecodedInferInputTensor extends Omit<ModelInferRequest_InferInputTensor, 'contents'> {
  contents: DecodedTensorContents | undefined;
}

/** A ModelInferRequest as either decoder leaves it: ts-proto's messages are one case of it. */
export interface DecodedModelInferRequest extends Omit<ModelInferRequest, 'inputs'> {
  inputs: DecodedInferInputTensor[];
}

const WIRE_VARINT = 0;
const WIRE_64 = 1;
const WIRE_LENGTH = 2;
const WIRE_32 = 5;

class WireError extends Error {}

/** A protobuf cursor over one Buffer: just what ModelInferRequest needs, no object per field. */
class Cursor {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    public end: number,
  ) {}

  varint(): number {
    const buf = this.buf;
    if (this.pos >= this.end) throw new WireError('truncated varint');
    const first = buf[this.pos++];
    // Tags and lengths below 128: one byte, the usual case.
    if (first < 0x80) return first;
    let result = first & 0x7f;
    let scale = 0x80;
    for (;;) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = buf[this.pos++];
      // Wider varints (int64 shape values) are read exactly up to 2^53.
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 0x80;
      if (scale > 2 ** 63) throw new WireError('varint too long');
    }
  }

  /** Start of the last length-delimited field read by `span`. */
  from = 0;

  /** Reads a length-delimited field's length: its bytes are [from, returned end); moves past them. */
  span(): number {
    const length = this.varint();
    this.from = this.pos;
    if (this.from + length > this.end) throw new WireError('length-delimited field runs past its message');
    this.pos = this.from + length;
    return this.pos;
  }

  string(): string {
    const end = this.span();
    return this.buf.toString('utf8', this.from, end);
  }

  /** A string that repeats across requests (a model, tensor or datatype name): interned when short and ASCII. */
  name(): string {
    const end = this.span();
    return asciiElement(this.buf, this.from, end) ?? this.buf.toString('utf8', this.from, end);
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_64) this.pos += 8;
    else if (wireType === WIRE_32) this.pos += 4;
    else if (wireType === WIRE_LENGTH) this.span();
    else throw new WireError(`unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new WireError('field runs past its message');
  }
}

/**
 * ASCII BYTES elements by content: a model's categories repeat across rows and requests, so each is decoded once and
 * the same string answers every later occurrence. Bounded (open addressing, replaced on collision) and only for short
 * elements, so hostile inputs cost a miss, never memory.
 */
const INTERN_SLOTS = 4_096;
const INTERN_MAX_BYTES = 64;
const internBytes: (Buffer | undefined)[] = new Array(INTERN_SLOTS);
const internStrings: string[] = new Array(INTERN_SLOTS);

/** The element's text if it is ASCII, or undefined (the caller keeps the bytes). */
function asciiElement(buf: Buffer, start: number, end: number): string | undefined {
  const length = end - start;
  if (length > INTERN_MAX_BYTES) {
    for (let i = start; i < end; i++) if (buf[i] > 0x7f) return undefined;
    return buf.toString('latin1', start, end);
  }
  // FNV-1a over the bytes, checking ASCII on the way.
  let hash = 0x811c9dc5;
  let high = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i];
    high |= byte;
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  if (high > 0x7f) return undefined;
  const slot = (hash ^ length) & (INTERN_SLOTS - 1);
  const cached = internBytes[slot];
  if (cached !== undefined && cached.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (cached[i] !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return internStrings[slot];
  }
  const text = buf.toString('latin1', start, end);
  internBytes[slot] = Buffer.from(buf.subarray(start, end));
  internStrings[slot] = text;
  return text;
}

/** The value of every contents field a tensor does not use. */
const NO_VALUES = Object.freeze([]) as unknown as never[];

/** Doubles from little-endian bytes [start, end) into a new Float64Array (appended to `into`, if given). */
function doubles(buf: Buffer, start: number, end: number, into?: Float64Array): Float64Array {
  if ((end - start) % 8 !== 0) throw new WireError('packed fp64_contents is not a whole number of doubles');
  const previous = into?.length ?? 0;
  const out = new Float64Array(previous + (end - start) / 8);
  if (into) out.set(into);
  const n = (end - start) / 8;
  // A few values are read in place (no view object); more are copied as bytes at once.
  if (n <= 8) for (let at = start, i = previous; at < end; at += 8, i++) out[i] = buf.readDoubleLE(at);
  else new Uint8Array(out.buffer, previous * 8, n * 8).set(buf.subarray(start, end));
  return out;
}

/**
 * InferTensorContents: fp64_contents and bytes_contents read straight from the wire; a tensor using any other field
 * is decoded by ts-proto as a whole (those datatypes are not on the hot path).
 */
function decodeContents(cursor: Cursor, start: number, end: number): DecodedTensorContents {
  const buf = cursor.buf;
  const inner = new Cursor(buf, end);
  inner.pos = start;
  // The fields a tensor leaves empty share one frozen empty array (readers only read them): no eight arrays per tensor.
  const contents: DecodedTensorContents = {
    boolContents: NO_VALUES,
    intContents: NO_VALUES,
    int64Contents: NO_VALUES,
    uintContents: NO_VALUES,
    uint64Contents: NO_VALUES,
    fp32Contents: NO_VALUES,
    fp64Contents: NO_VALUES,
    bytesContents: NO_VALUES,
  };
  let fp64: Float64Array | undefined;
  let bytes: (Uint8Array | string)[] | undefined;
  while (inner.pos < end) {
    const tag = inner.varint();
    const field = tag >>> 3;
    if (tag === 58) {
      const to = inner.span();
      const from = inner.from;
      fp64 = doubles(buf, from, to, fp64);
    } else if (tag === 57) {
      if (inner.pos + 8 > end) throw new WireError('truncated double');
      fp64 = doubles(buf, inner.pos, inner.pos + 8, fp64);
      inner.pos += 8;
    } else if (tag === 66) {
      const to = inner.span();
      const from = inner.from;
      (bytes ??= []).push(asciiElement(buf, from, to) ?? buf.subarray(from, to));
    } else if (field >= 1 && field <= 6) {
      // A datatype off the fast path: ts-proto reads the whole message.
      return InferTensorContents.decode(buf.subarray(start, end));
    } else if ((tag & 7) === 4 || tag === 0) break;
    else inner.skip(tag & 7);
  }
  if (fp64) contents.fp64Contents = fp64;
  if (bytes) contents.bytesContents = bytes;
  return contents;
}

function decodeInputTensor(cursor: Cursor, start: number, end: number): DecodedInferInputTensor {
  const buf = cursor.buf;
  const inner = new Cursor(buf, end);
  inner.pos = start;
  const tensor: DecodedInferInputTensor = { name: '', datatype: '', shape: [], parameters: {}, contents: undefined };
  while (inner.pos < end) {
    const tag = inner.varint();
    if (tag === 10) tensor.name = inner.name();
    else if (tag === 18) tensor.datatype = inner.name();
    else if (tag === 24) tensor.shape.push(signedInt64(inner.varint()));
    else if (tag === 26) {
      const to = inner.span();
      const from = inner.from;
      const packed = new Cursor(buf, to);
      packed.pos = from;
      while (packed.pos < to) tensor.shape.push(signedInt64(packed.varint()));
    } else if (tag === 34) {
      const to = inner.span();
      const from = inner.from;
      const entry = ModelInferRequest_InferInputTensor_ParametersEntry.decode(buf.subarray(from, to));
      if (entry.value !== undefined) tensor.parameters[entry.key] = entry.value;
    } else if (tag === 42) {
      const to = inner.span();
      const from = inner.from;
      tensor.contents = decodeContents(inner, from, to);
    } else if ((tag & 7) === 4 || tag === 0) break;
    else inner.skip(tag & 7);
  }
  return tensor;
}

/** An int64 read as an unsigned varint: negative values (two's complement, 10 bytes) come back negative. */
function signedInt64(value: number): number {
  return value >= 2 ** 63 ? value - 2 ** 64 : value;
}

/**
 * Decodes a serialized ModelInferRequest as ts-proto would, except that FP64 and ASCII BYTES contents come out ready
 * for columns (see DecodedTensorContents): no number per value, no view object and no new string per element.
 * Throws on malformed input, naming what is wrong (the gRPC server answers it INVALID_ARGUMENT with that reason).
 */
export function decodeModelInferRequest(bytes: Uint8Array): DecodedModelInferRequest {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cursor = new Cursor(buf, buf.length);
  const request: DecodedModelInferRequest = {
    modelName: '',
    modelVersion: '',
    id: '',
    parameters: {},
    inputs: [],
    outputs: [],
    rawInputContents: [],
  };
  while (cursor.pos < cursor.end) {
    const tag = cursor.varint();
    if (tag === 10) request.modelName = cursor.name();
    else if (tag === 18) request.modelVersion = cursor.name();
    else if (tag === 26) request.id = cursor.string();
    else if (tag === 34) {
      const to = cursor.span();
      const from = cursor.from;
      const entry = ModelInferRequest_ParametersEntry.decode(buf.subarray(from, to));
      if (entry.value !== undefined) request.parameters[entry.key] = entry.value;
    } else if (tag === 42) {
      const to = cursor.span();
      const from = cursor.from;
      request.inputs.push(decodeInputTensor(cursor, from, to));
    } else if (tag === 50) {
      const to = cursor.span();
      const from = cursor.from;
      request.outputs.push(ModelInferRequest_InferRequestedOutputTensor.decode(buf.subarray(from, to)));
    } else if (tag === 58) {
      const to = cursor.span();
      const from = cursor.from;
      request.rawInputContents.push(buf.subarray(from, to));
    } else if ((tag & 7) === 4 || tag === 0) break;
    else cursor.skip(tag & 7);
  }
  return request;
}

/** The OIP server interface with ModelInfer taking the fast decoder's requests. */
export type FastGRPCInferenceServiceServer = Omit<GRPCInferenceServiceServer, 'modelInfer'> & {
  modelInfer: handleUnaryCall<DecodedModelInferRequest, ModelInferResponse>;
};

/**
 * GRPCInferenceServiceService whose ModelInfer requests are decoded by decodeModelInferRequest and whose responses
 * are encoded by encodeModelInferResponse (the same bytes as ts-proto's).
 */
export const FastGRPCInferenceServiceService = {
  ...GRPCInferenceServiceService,
  modelInfer: {
    ...GRPCInferenceServiceService.modelInfer,
    requestDeserialize: (value: Buffer): DecodedModelInferRequest => decodeModelInferRequest(value),
    responseSerialize: (value: ModelInferResponse): Buffer => encodeModelInferResponse(value),
  },
} as const satisfies ServiceDefinition<UntypedServiceImplementation>;
