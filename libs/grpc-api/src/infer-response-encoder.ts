import {
  type InferParameter,
  type InferTensorContents,
  ModelInferResponse,
  type ModelInferResponse_InferOutputTensor as InferOutputTensor,
} from './generated/inference/grpc_predict_v2.pb';

/** Thrown inside the size pass when the message leaves the fast path; the caller falls back to ts-proto. */
const OFF_PATH = Symbol('off the fast path');

const varintLength = (value: number) => {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
};

/** Bytes of a length-delimited field of `length` bytes with a one-byte tag. */
const delimited = (length: number) => 1 + varintLength(length) + length;

/** Writes protobuf fields into one Buffer sized beforehand; no intermediate chunks. */
class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(value: number): void {
    const buf = this.buf;
    while (value >= 0x80) {
      buf[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buf[this.pos++] = value;
  }

  string(tag: number, text: string, length: number): void {
    this.buf[this.pos++] = tag;
    this.varint(length);
    this.pos += this.buf.write(text, this.pos, length, 'utf8');
  }

  bytes(tag: number, bytes: Uint8Array): void {
    this.buf[this.pos++] = tag;
    this.varint(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

/** Sizes of everything nested, in the order the write pass needs them (strings' UTF-8 lengths included). */
type Sizes = number[];

function stringSize(text: string, sizes: Sizes): number {
  const length = Buffer.byteLength(text, 'utf8');
  sizes.push(length);
  return delimited(length);
}

/** A string-valued parameter; any other kind of value leaves the fast path. */
function parameterSize(key: string, value: InferParameter | undefined, sizes: Sizes): number {
  if (
    value?.stringParam === undefined ||
    value.boolParam !== undefined ||
    value.int64Param !== undefined ||
    value.doubleParam !== undefined ||
    value.uint64Param !== undefined
  ) {
    throw OFF_PATH;
  }
  const at = sizes.push(0) - 1;
  let entry = key === '' ? 0 : stringSize(key, sizes);
  const valueAt = sizes.push(0) - 1;
  const inner = stringSize(value.stringParam, sizes);
  sizes[valueAt] = inner;
  entry += delimited(inner);
  sizes[at] = entry;
  return delimited(entry);
}

/** Contents with FP64 and BYTES values only (what serving answers); any other field leaves the fast path. */
function contentsSize(contents: InferTensorContents): number {
  if (
    contents.boolContents.length > 0 ||
    contents.intContents.length > 0 ||
    contents.int64Contents.length > 0 ||
    contents.uintContents.length > 0 ||
    contents.uint64Contents.length > 0 ||
    contents.fp32Contents.length > 0
  ) {
    throw OFF_PATH;
  }
  let size = contents.fp64Contents.length > 0 ? delimited(contents.fp64Contents.length * 8) : 0;
  for (const element of contents.bytesContents) size += delimited(element.length);
  return size;
}

function hasKeys(record: object): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}

function outputSize(output: InferOutputTensor, sizes: Sizes): number {
  if (hasKeys(output.parameters)) throw OFF_PATH;
  const at = sizes.push(0) - 1;
  let size = 0;
  if (output.name !== '') size += stringSize(output.name, sizes);
  if (output.datatype !== '') size += stringSize(output.datatype, sizes);
  if (output.shape.length > 0) {
    let packed = 0;
    for (const dimension of output.shape) {
      // Negative or fractional dimensions (never in an answer) take ts-proto's int64 path.
      if (!Number.isSafeInteger(dimension) || dimension < 0) throw OFF_PATH;
      packed += varintLength(dimension);
    }
    sizes.push(packed);
    size += delimited(packed);
  }
  if (output.contents !== undefined) {
    const contents = contentsSize(output.contents);
    sizes.push(contents);
    size += delimited(contents);
  }
  sizes[at] = size;
  return delimited(size);
}

/**
 * Encodes a ModelInferResponse to exactly the bytes ts-proto writes (fields in number order, maps in insertion order),
 * measuring first and writing once into one Buffer: no writer chunks, forks or per-value calls. Serving's answers
 * (string parameters, FP64 and BYTES contents, raw outputs) take this path; any other message is encoded by ts-proto.
 */
export function encodeModelInferResponse(message: ModelInferResponse): Buffer {
  const sizes: Sizes = [];
  let size = 0;
  try {
    if (message.modelName !== '') size += stringSize(message.modelName, sizes);
    if (message.modelVersion !== '') size += stringSize(message.modelVersion, sizes);
    if (message.id !== '') size += stringSize(message.id, sizes);
    for (const key in message.parameters) size += parameterSize(key, message.parameters[key], sizes);
    for (const output of message.outputs) size += outputSize(output, sizes);
    for (const raw of message.rawOutputContents) size += delimited(raw.length);
  } catch (error) {
    if (error !== OFF_PATH) throw error;
    return Buffer.from(ModelInferResponse.encode(message).finish());
  }
  const writer = new Writer(Buffer.allocUnsafe(size));
  let next = 0;
  if (message.modelName !== '') writer.string(10, message.modelName, sizes[next++]);
  if (message.modelVersion !== '') writer.string(18, message.modelVersion, sizes[next++]);
  if (message.id !== '') writer.string(26, message.id, sizes[next++]);
  for (const key in message.parameters) {
    writer.buf[writer.pos++] = 34;
    writer.varint(sizes[next++]);
    if (key !== '') writer.string(10, key, sizes[next++]);
    writer.buf[writer.pos++] = 18;
    writer.varint(sizes[next++]);
    writer.string(26, message.parameters[key].stringParam!, sizes[next++]);
  }
  for (const output of message.outputs) {
    writer.buf[writer.pos++] = 42;
    writer.varint(sizes[next++]);
    if (output.name !== '') writer.string(10, output.name, sizes[next++]);
    if (output.datatype !== '') writer.string(18, output.datatype, sizes[next++]);
    if (output.shape.length > 0) {
      writer.buf[writer.pos++] = 26;
      writer.varint(sizes[next++]);
      for (const dimension of output.shape) writer.varint(dimension);
    }
    if (output.contents !== undefined) {
      writer.buf[writer.pos++] = 42;
      writer.varint(sizes[next++]);
      const { fp64Contents, bytesContents } = output.contents;
      if (fp64Contents.length > 0) {
        writer.buf[writer.pos++] = 58;
        writer.varint(fp64Contents.length * 8);
        for (const value of fp64Contents) {
          writer.buf.writeDoubleLE(value, writer.pos);
          writer.pos += 8;
        }
      }
      for (const element of bytesContents) writer.bytes(66, element);
    }
  }
  for (const raw of message.rawOutputContents) writer.bytes(50, raw);
  return writer.buf;
}
