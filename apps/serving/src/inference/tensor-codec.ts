import { isAscii, isUtf8 } from 'node:buffer';
import {
  type DecodedInferInputTensor as InferInputTensor,
  type DecodedModelInferRequest,
  type DecodedTensorContents as InferTensorContents,
} from '@keel/grpc-api';
import { type SignatureInput } from '@keel/model-package';

/** Most rows one request may carry: bounds memory and latency per call, and keeps prediction logs chunkable. */
export const MAX_ROWS = 10_000;

/**
 * One decoded input column: a numeric column as float64 values (NaN where a nullable column has no value), a
 * categorical one as strings (null where it has none).
 */
export type InputColumn = Float64Array | (string | null)[];

/** A request's inputs as columns: every signature input, each `rows` long, decoded once and never per row. */
export interface InputColumns {
  readonly rows: number;
  readonly columns: Readonly<Record<string, InputColumn>>;
}

/** The request's inputs break the model's signature or the protocol; `input` names the offending tensor. */
export class InvalidInferInputError extends Error {
  constructor(
    message: string,
    readonly input?: string,
  ) {
    super(message);
    this.name = 'InvalidInferInputError';
  }
}

const NUMERIC_DATATYPES = ['FP64', 'FP32', 'INT64', 'INT32'] as const;
const MATRIX_DATATYPES = ['FP64', 'FP32'] as const;
type ValueDatatype = (typeof NUMERIC_DATATYPES)[number] | 'BYTES';

type ContentsField = keyof InferTensorContents;

/** Where each datatype's values live in InferTensorContents. */
const CONTENTS_FIELD: Record<ValueDatatype, ContentsField> = {
  FP64: 'fp64Contents',
  FP32: 'fp32Contents',
  INT64: 'int64Contents',
  INT32: 'intContents',
  BYTES: 'bytesContents',
};

/** The protocol's names of the contents fields, as callers write them, for error messages. */
const WIRE_NAME: Record<ContentsField, string> = {
  boolContents: 'bool_contents',
  intContents: 'int_contents',
  int64Contents: 'int64_contents',
  uintContents: 'uint_contents',
  uint64Contents: 'uint64_contents',
  fp32Contents: 'fp32_contents',
  fp64Contents: 'fp64_contents',
  bytesContents: 'bytes_contents',
};
const ALL_CONTENTS_FIELDS = Object.keys(WIRE_NAME) as ContentsField[];

/**
 * Decodes and strictly validates ModelInfer inputs against a model's signature, straight into columns: numeric
 * columns into Float64Arrays, categorical ones into string arrays; no per-row objects.
 *
 * Two layouts are accepted: one tensor per raw column (shape [n] or [n, 1]; BYTES for categorical columns,
 * FP64/FP32/INT64/INT32 for numeric ones), or a single FP64/FP32 tensor of shape [n, k] whose k columns are the
 * signature's inputs in order (numeric signatures only). Values come from `contents` or, for every input at once,
 * from `raw_input_contents` (little-endian; BYTES elements with 4-byte little-endian length prefixes).
 *
 * Missing values: NaN in a numeric tensor and an empty string in a BYTES tensor mean "missing", allowed only in
 * nullable columns (FP64 has no other way to say null); ±Infinity is always refused. Nullable columns may be omitted.
 */
export function decodeInferInputs(
  request: Pick<DecodedModelInferRequest, 'inputs' | 'rawInputContents'>,
  signature: readonly SignatureInput[],
  maxRows = MAX_ROWS,
): InputColumns {
  const inputs = request.inputs ?? [];
  const raw = request.rawInputContents ?? [];
  if (inputs.length === 0) throw new InvalidInferInputError('the request has no inputs');
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw new InvalidInferInputError(
      `raw_input_contents has ${raw.length} entries for ${inputs.length} inputs: give every input's raw contents, or none`,
    );
  }
  const byName = signatureIndex(signature);
  const matrix = inputs.length === 1 && !byName.has(inputs[0].name);
  return matrix
    ? decodeMatrix(inputs[0], raw[0], signature, maxRows)
    : decodeColumns(inputs, raw, signature, byName, maxRows);
}

/** Signature inputs by name, built once per signature array (a loaded model keeps its own). */
const signatureIndexes = new WeakMap<readonly SignatureInput[], ReadonlyMap<string, SignatureInput>>();
function signatureIndex(signature: readonly SignatureInput[]): ReadonlyMap<string, SignatureInput> {
  let index = signatureIndexes.get(signature);
  if (!index) signatureIndexes.set(signature, (index = new Map(signature.map((column) => [column.name, column]))));
  return index;
}

function decodeColumns(
  inputs: readonly InferInputTensor[],
  raw: readonly Uint8Array[],
  signature: readonly SignatureInput[],
  byName: ReadonlyMap<string, SignatureInput>,
  maxRows: number,
): InputColumns {
  const columns: Record<string, InputColumn> = {};
  let rows: { n: number; from: string } | undefined;
  for (let index = 0; index < inputs.length; index++) {
    const tensor = inputs[index];
    const name = tensor.name;
    const column = byName.get(name);
    if (!column) {
      throw new InvalidInferInputError(
        `input "${name}" is not an input of this model; expected ${signature.map((c) => c.name).join(', ')}`,
        name,
      );
    }
    if (columns[name] !== undefined) throw new InvalidInferInputError(`input "${name}" is given more than once`, name);
    const allowed: readonly string[] = column.kind === 'categorical' ? ['BYTES'] : NUMERIC_DATATYPES;
    if (!allowed.includes(tensor.datatype)) {
      throw new InvalidInferInputError(
        `input "${name}" has datatype ${tensor.datatype || '(none)'} but column "${name}" is ${column.kind}: ` +
          `use ${allowed.join(', ')}`,
        name,
      );
    }
    const n = rowCount(tensor, 'column', maxRows);
    const datatype = tensor.datatype as ValueDatatype;
    const values =
      datatype === 'BYTES'
        ? checkStrings(column, name, readStrings(tensor, raw[index]))
        : checkNumbers(column, name, readNumbers(tensor, datatype, raw[index]));
    checkElementCount(tensor, values.length, n);
    if (rows && rows.n !== n) {
      throw new InvalidInferInputError(`input "${name}" has ${n} rows but input "${rows.from}" has ${rows.n}`, name);
    }
    rows ??= { n, from: name };
    columns[name] = values;
  }
  const n = rows!.n;
  const ordered: Record<string, InputColumn> = {};
  for (const column of signature) {
    const values = columns[column.name];
    if (values !== undefined) {
      ordered[column.name] = values;
      continue;
    }
    if (!column.nullable) {
      throw new InvalidInferInputError(`missing required input "${column.name}"`, column.name);
    }
    ordered[column.name] =
      column.kind === 'categorical' ? new Array<null>(n).fill(null) : new Float64Array(n).fill(Number.NaN);
  }
  return { rows: n, columns: ordered };
}

function decodeMatrix(
  tensor: InferInputTensor,
  raw: Uint8Array | undefined,
  signature: readonly SignatureInput[],
  maxRows: number,
): InputColumns {
  const name = tensor.name;
  if (!(MATRIX_DATATYPES as readonly string[]).includes(tensor.datatype)) {
    throw new InvalidInferInputError(
      `input "${name}" is not a column of this model, so it is read as a matrix, which must be FP64 or FP32 ` +
        `(got ${tensor.datatype || '(none)'}); columns are ${signature.map((c) => c.name).join(', ')}`,
      name,
    );
  }
  const categorical = signature.find((column) => column.kind === 'categorical');
  if (categorical) {
    throw new InvalidInferInputError(
      `input "${name}": a matrix carries numbers only, but column "${categorical.name}" is categorical; ` +
        'send one tensor per column instead',
      name,
    );
  }
  const k = signature.length;
  const shape = tensor.shape ?? [];
  if (shape.length !== 2 || shape[1] !== k) {
    throw new InvalidInferInputError(
      `input "${name}" has shape [${shape.join(', ')}]; a matrix input must be [n, ${k}] with columns ` +
        signature.map((c) => c.name).join(', '),
      name,
    );
  }
  const n = rowCount(tensor, 'matrix', maxRows);
  const values = readNumbers(tensor, tensor.datatype as (typeof MATRIX_DATATYPES)[number], raw);
  checkElementCount(tensor, values.length, n * k);
  const columns: Record<string, InputColumn> = {};
  for (let j = 0; j < k; j++) {
    const column = new Float64Array(n);
    for (let i = 0; i < n; i++) column[i] = values[i * k + j];
    columns[signature[j].name] = checkNumbers(signature[j], name, column);
  }
  return { rows: n, columns };
}

/** Rows from the first dimension, after checking the shape is well-formed ([n] or [n, 1] for a column). */
function rowCount(tensor: InferInputTensor, layout: 'column' | 'matrix', maxRows: number): number {
  const shape = tensor.shape ?? [];
  const name = tensor.name;
  if (layout === 'column' && !(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw new InvalidInferInputError(
      `input "${name}" has shape [${shape.join(', ')}]; a column input must be [n] or [n, 1]`,
      name,
    );
  }
  for (const dimension of shape) {
    if (!Number.isInteger(dimension) || dimension < 1) {
      throw new InvalidInferInputError(
        `input "${name}" has shape [${shape.join(', ')}]: dimensions must be positive integers`,
        name,
      );
    }
  }
  const n = shape[0];
  if (n > maxRows) {
    throw new InvalidInferInputError(`input "${name}" has ${n} rows; at most ${maxRows} per request`, name);
  }
  return n;
}

function checkElementCount(tensor: InferInputTensor, count: number, expected: number): void {
  if (count !== expected) {
    throw new InvalidInferInputError(
      `input "${tensor.name}" has shape [${tensor.shape.join(', ')}] (${expected} values) but carries ${count} values`,
      tensor.name,
    );
  }
}

/** The contents field a tensor's values come from, refusing values in any other field or in both places. */
function contentsOf(tensor: InferInputTensor, datatype: ValueDatatype, raw: Uint8Array | undefined): ContentsField {
  const name = tensor.name;
  const contents: Partial<InferTensorContents> = tensor.contents ?? {};
  const field = CONTENTS_FIELD[datatype];
  // One pass without allocating on the usual path; the lists for messages are built only for an error.
  let others = false;
  for (const f of ALL_CONTENTS_FIELDS) {
    if (f !== field && (contents[f]?.length ?? 0) > 0) {
      others = true;
      break;
    }
  }
  if (raw === undefined && !others) return field;
  const filled = ALL_CONTENTS_FIELDS.filter((f) => (contents[f]?.length ?? 0) > 0);
  if (raw !== undefined) {
    if (filled.length > 0) {
      throw new InvalidInferInputError(
        `input "${name}" has both contents (${filled.map((f) => WIRE_NAME[f]).join(', ')}) and raw_input_contents; ` +
          'use one',
        name,
      );
    }
    return field;
  }
  const wrong = filled.filter((f) => f !== field);
  throw new InvalidInferInputError(
    `input "${name}" has datatype ${datatype}, whose values belong in contents.${WIRE_NAME[field]}, ` +
      `not ${wrong.map((f) => WIRE_NAME[f]).join(', ')}`,
    name,
  );
}

/** A numeric tensor's values as float64, from its raw bytes or its typed contents. */
function readNumbers(
  tensor: InferInputTensor,
  datatype: Exclude<ValueDatatype, 'BYTES'>,
  raw: Uint8Array | undefined,
): Float64Array {
  const field = contentsOf(tensor, datatype, raw);
  if (raw !== undefined) return decodeRawNumbers(tensor.name, datatype, raw);
  const values = tensor.contents?.[field] ?? [];
  // The fast decoder's FP64 values are a Float64Array of their own already; anything else is copied once.
  return values instanceof Float64Array ? values : Float64Array.from(values as number[]);
}

/** A BYTES tensor's elements as strings, from its raw bytes or its typed contents. */
function readStrings(tensor: InferInputTensor, raw: Uint8Array | undefined): string[] {
  contentsOf(tensor, 'BYTES', raw);
  if (raw !== undefined) return decodeRawStrings(tensor.name, raw);
  const elements = tensor.contents?.bytesContents ?? [];
  const out = new Array<string>(elements.length);
  for (let i = 0; i < elements.length; i++) {
    const element = elements[i];
    // The fast decoder hands ASCII elements over as strings already; other bytes are checked here.
    out[i] = typeof element === 'string' ? element : decodeUtf8(tensor.name, element);
  }
  return out;
}

/** Little-endian raw tensor bytes; BYTES elements are each prefixed by their length as a uint32 LE. */
export function decodeRaw(name: string, datatype: ValueDatatype, bytes: Uint8Array): (number | string)[] {
  return datatype === 'BYTES' ? decodeRawStrings(name, bytes) : Array.from(decodeRawNumbers(name, datatype, bytes));
}

/** A view of the bytes, never a copy: the decoder hands over Buffers already, anything else is wrapped in place. */
const asBuffer = (bytes: Uint8Array) =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function decodeRawStrings(name: string, bytes: Uint8Array): string[] {
  const raw = asBuffer(bytes);
  const out: string[] = [];
  let offset = 0;
  while (offset < raw.length) {
    if (offset + 4 > raw.length) {
      throw new InvalidInferInputError(`input "${name}": raw BYTES end inside a 4-byte length prefix`, name);
    }
    const length = raw.readUInt32LE(offset);
    offset += 4;
    if (offset + length > raw.length) {
      throw new InvalidInferInputError(
        `input "${name}": raw BYTES element of ${length} bytes runs past the end of the tensor`,
        name,
      );
    }
    out.push(decodeUtf8(name, raw.subarray(offset, offset + length)));
    offset += length;
  }
  return out;
}

const WIDTH: Record<Exclude<ValueDatatype, 'BYTES'>, number> = { FP64: 8, INT64: 8, FP32: 4, INT32: 4 };

function decodeRawNumbers(name: string, datatype: Exclude<ValueDatatype, 'BYTES'>, bytes: Uint8Array): Float64Array {
  const raw = asBuffer(bytes);
  const size = WIDTH[datatype];
  if (raw.length % size !== 0) {
    throw new InvalidInferInputError(
      `input "${name}": ${raw.length} raw bytes is not a whole number of ${size}-byte ${datatype} values`,
      name,
    );
  }
  const n = raw.length / size;
  // Aligned little-endian bytes are read through a typed view in one pass (every supported host is little-endian).
  if (raw.byteOffset % size === 0) {
    if (datatype === 'FP64') return new Float64Array(raw.buffer, raw.byteOffset, n).slice();
    if (datatype === 'FP32') return Float64Array.from(new Float32Array(raw.buffer, raw.byteOffset, n));
    if (datatype === 'INT32') return Float64Array.from(new Int32Array(raw.buffer, raw.byteOffset, n));
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * size;
    out[i] =
      datatype === 'FP64'
        ? raw.readDoubleLE(at)
        : datatype === 'FP32'
          ? raw.readFloatLE(at)
          : datatype === 'INT64'
            ? Number(raw.readBigInt64LE(at))
            : raw.readInt32LE(at);
  }
  return out;
}

/** Encodes strings as the protocol's raw BYTES tensor (uint32 LE length prefix per element). */
export function encodeRawBytes(values: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const value of values) {
    const bytes = Buffer.from(value, 'utf8');
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(bytes.length);
    parts.push(prefix, bytes);
  }
  return Buffer.concat(parts);
}

function decodeUtf8(name: string, bytes: Uint8Array): string {
  const buffer = asBuffer(bytes);
  // ASCII (every Adult category) is read without a decoder; anything else must be valid UTF-8.
  if (isAscii(buffer)) return buffer.toString('latin1');
  if (!isUtf8(buffer)) {
    throw new InvalidInferInputError(`input "${name}" has a BYTES element that is not valid UTF-8`, name);
  }
  return buffer.toString('utf8');
}

/** A numeric column's values, checked in place: NaN only where nullable, never ±Infinity. */
function checkNumbers(column: SignatureInput, input: string, values: Float64Array): Float64Array {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value - value === 0) continue;
    if (value !== value) {
      if (column.nullable) continue;
      throw new InvalidInferInputError(`input "${input}" has NaN but column "${column.name}" is not nullable`, input);
    }
    throw new InvalidInferInputError(`input "${input}" has a non-finite value (${value})`, input);
  }
  return values;
}

/** A categorical column's values: empty strings become null where the column is nullable. */
function checkStrings(column: SignatureInput, input: string, values: string[]): (string | null)[] {
  const out: (string | null)[] = values;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== '') continue;
    if (!column.nullable) {
      throw new InvalidInferInputError(
        `input "${input}" has an empty value but column "${column.name}" is not nullable`,
        input,
      );
    }
    out[i] = null;
  }
  return out;
}
