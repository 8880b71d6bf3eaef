import {
  type InferTensorContents,
  type ModelInferResponse_InferOutputTensor as InferOutputTensor,
} from '@keel/grpc-api';
import { type SignatureOutput } from '@keel/model-package';
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

/** Output tensors of shape [n] in `contents`: FP64 numbers in fp64_contents, labels as UTF-8 bytes_contents. */
export function encodeOutputs(
  outputs: ModelOutputs,
  selected: readonly SignatureOutput[],
  rows: number,
): InferOutputTensor[] {
  return selected.map((output) => {
    const values = outputs[output.name];
    if (!values || values.length !== rows) {
      throw new Error(`model produced ${values?.length ?? 0} values of "${output.name}" for ${rows} rows`);
    }
    const contents: InferTensorContents =
      output.datatype === 'BYTES'
        ? { ...NO_VALUES, bytesContents: (values as string[]).map((value) => Buffer.from(String(value), 'utf8')) }
        : { ...NO_VALUES, fp64Contents: values as number[] };
    return { name: output.name, datatype: output.datatype, shape: [rows], parameters: {}, contents };
  });
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

/**
 * Moves every output's values from `contents` to `raw_output_contents`, in output order: the answer to a request
 * that sent its inputs raw, as Triton's clients expect (they read raw outputs).
 */
export function toRawOutputs(outputs: readonly InferOutputTensor[]): {
  outputs: InferOutputTensor[];
  rawOutputContents: Buffer[];
} {
  return {
    outputs: outputs.map((output) => ({ ...output, contents: undefined })),
    rawOutputContents: outputs.map((output) => rawTensorBytes(output.datatype, output.contents ?? NO_VALUES)),
  };
}
