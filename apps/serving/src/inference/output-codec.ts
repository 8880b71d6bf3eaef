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
