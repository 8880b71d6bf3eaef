import {
  type InferTensorContents,
  type ModelInferResponse_InferOutputTensor as InferOutputTensor,
} from '@keel/grpc-api';
import { outputColumnNames, type SignatureOutput } from '@keel/model-package';
import { type ModelOutputs } from '../models/loaded-model';
import { InvalidInferInputError } from './tensor-codec';

/**
 * The outputs to answer with: those requested (in request order, each at most once), or all of the model's.
 * An unknown requested name is the caller's mistake: INVALID_ARGUMENT naming it.
 */
export function selectOutputs(
  requested: readonly { name: string }[] | undefined,
  available: readonly SignatureOutput[],
): SignatureOutput[] {
  if (!requested || requested.length === 0) return [...available];
  const byName = new Map(available.map((output) => [output.name, output]));
  const selected: SignatureOutput[] = [];
  for (const { name } of requested) {
    const output = byName.get(name);
    if (!output) {
      throw new InvalidInferInputError(
        `requested output "${name}" is not an output of this model; expected ${available.map((o) => o.name).join(', ')}`,
        name,
      );
    }
    if (!selected.includes(output)) selected.push(output);
  }
  return selected;
}

/** Contents with no values; each output fills one field. Encoding only reads, so the empty arrays can be shared. */
const NO_VALUES: Readonly<InferTensorContents> = {
  boolContents: [],
  intContents: [],
  int64Contents: [],
  uintContents: [],
  uint64Contents: [],
  fp32Contents: [],
  fp64Contents: [],
  bytesContents: [],
};

/** Encoded labels by text: a model has a handful, so each is encoded once and the same bytes answer every row. */
const LABEL_BYTES = new Map<string, Buffer>();
const MAX_CACHED_LABELS = 4_096;

function labelBytes(value: string): Buffer {
  let bytes = LABEL_BYTES.get(value);
  if (bytes === undefined) {
    if (LABEL_BYTES.size >= MAX_CACHED_LABELS) LABEL_BYTES.clear();
    LABEL_BYTES.set(value, (bytes = Buffer.from(value, 'utf8')));
  }
  return bytes;
}

/** The selected outputs, answered as the request was sent: typed `contents`, or raw bytes when the inputs were raw. */
export interface EncodedOutputs {
  outputs: InferOutputTensor[];
  rawOutputContents: Buffer[];
}

/**
 * Output tensors of shape [n]: FP64 numbers in fp64_contents and labels as UTF-8 bytes_contents, or (`raw`) the same
 * values in raw_output_contents, in output order, as Triton's clients read them when they sent raw inputs. An output
 * declared with a row shape [k] (multiclass `probability`) is a [n, k] tensor, row-major, from its k columns.
 */
export function encodeOutputs(
  outputs: ModelOutputs,
  selected: readonly SignatureOutput[],
  rows: number,
  raw = false,
): EncodedOutputs {
  const tensors: InferOutputTensor[] = [];
  const rawOutputContents: Buffer[] = [];
  for (const output of selected) {
    if (output.shape) {
      const values = interleave(outputs, output, rows);
      const contents = raw ? undefined : { ...NO_VALUES, fp64Contents: Array.from(values) };
      if (raw) rawOutputContents.push(rawDoubles(values));
      tensors.push({
        name: output.name,
        datatype: output.datatype,
        shape: [rows, ...output.shape],
        parameters: {},
        contents,
      });
      continue;
    }
    const values = outputs[output.name];
    if (!values || values.length !== rows) {
      throw new Error(`model produced ${values?.length ?? 0} values of "${output.name}" for ${rows} rows`);
    }
    const numbers = values instanceof Float64Array;
    if (numbers === (output.datatype === 'BYTES')) {
      throw new Error(`model produced ${numbers ? 'numbers' : 'text'} for ${output.datatype} output "${output.name}"`);
    }
    let contents: InferTensorContents | undefined;
    if (raw) rawOutputContents.push(numbers ? rawDoubles(values) : rawStrings(values as readonly string[]));
    else {
      contents = numbers
        ? { ...NO_VALUES, fp64Contents: Array.from(values) }
        : { ...NO_VALUES, bytesContents: (values as readonly string[]).map(labelBytes) };
    }
    tensors.push({ name: output.name, datatype: output.datatype, shape: [rows], parameters: {}, contents });
  }
  return { outputs: tensors, rawOutputContents };
}

/** The k per-row columns of a [rows, k] output as one row-major array. */
function interleave(outputs: ModelOutputs, output: SignatureOutput, rows: number): Float64Array {
  const names = outputColumnNames(output);
  const k = names.length;
  const out = new Float64Array(rows * k);
  names.forEach((name, j) => {
    const column = outputs[name];
    if (!(column instanceof Float64Array) || column.length !== rows) {
      throw new Error(`model produced no column "${name}" of ${rows} numbers for output "${output.name}"`);
    }
    for (let i = 0; i < rows; i++) out[i * k + j] = column[i];
  });
  return out;
}

/** Float64 values as little-endian raw bytes: the column's own memory on a little-endian host, no copy. */
function rawDoubles(values: Float64Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** Strings as the raw BYTES encoding: each a 4-byte little-endian length, then its UTF-8 bytes. */
function rawStrings(values: readonly string[]): Buffer {
  let size = 0;
  const encoded = values.map((value) => {
    const bytes = labelBytes(value);
    size += 4 + bytes.length;
    return bytes;
  });
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const bytes of encoded) {
    out.writeUInt32LE(bytes.length, offset);
    offset += 4 + bytes.copy(out, offset + 4);
  }
  return out;
}

/**
 * The bytes of one tensor as the protocol's raw encodings carry them (gRPC `raw_output_contents`, the REST binary
 * extension): FP64 as little-endian doubles, BYTES as 4-byte little-endian lengths each followed by its bytes.
 */
export function rawTensorBytes(datatype: string, contents: InferTensorContents): Buffer {
  if (datatype === 'BYTES') {
    const parts: Buffer[] = [];
    for (const element of contents.bytesContents) {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(element.length);
      parts.push(length, Buffer.from(element.buffer, element.byteOffset, element.byteLength));
    }
    return Buffer.concat(parts);
  }
  if (datatype === 'FP64') {
    const values = contents.fp64Contents;
    const bytes = Buffer.allocUnsafe(values.length * 8);
    for (let i = 0; i < values.length; i++) bytes.writeDoubleLE(values[i], i * 8);
    return bytes;
  }
  throw new Error(`no raw encoding for output datatype ${datatype}`);
}
