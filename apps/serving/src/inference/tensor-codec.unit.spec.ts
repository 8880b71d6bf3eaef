import {
  type DeepPartial,
  decodeModelInferRequest,
  ModelInferRequest,
  type ModelInferRequest_InferInputTensor,
  ModelInferResponse_InferOutputTensor as OutputTensor,
} from '@keel/grpc-api';
import { type SignatureInput } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { selectOutputs, encodeOutputs } from './output-codec';
import {
  decodeInferInputs,
  decodeRaw,
  encodeRawBytes,
  type InputColumns,
  InvalidInferInputError,
} from './tensor-codec';

type InferInputTensor = DeepPartial<ModelInferRequest_InferInputTensor>;

/** Decoded columns read back as rows, a missing value (NaN or null) as null: what the assertions compare. */
function rowsOf({ rows, columns }: InputColumns): Record<string, string | number | null>[] {
  return Array.from({ length: rows }, (_, i) =>
    Object.fromEntries(
      Object.entries(columns).map(([name, values]) => {
        const value = values[i];
        return [name, typeof value === 'number' && Number.isNaN(value) ? null : value];
      }),
    ),
  );
}

type Outcome = { rows: ReturnType<typeof rowsOf> } | { error: unknown };
const outcome = (decoded: () => InputColumns): Outcome => {
  try {
    return { rows: rowsOf(decoded()) };
  } catch (error) {
    return { error };
  }
};

/**
 * Decodes a request written as callers write it (absent fields take the protocol's defaults), as rows: from
 * ts-proto's message and from its wire bytes through serving's own decoder, which must agree (rows or error).
 */
const decode = (request: DeepPartial<ModelInferRequest>, sig: SignatureInput[], maxRows?: number) => {
  const message = ModelInferRequest.fromPartial(request);
  const proto = outcome(() => decodeInferInputs(message, sig, maxRows));
  const wire = outcome(() =>
    decodeInferInputs(decodeModelInferRequest(ModelInferRequest.encode(message).finish()), sig, maxRows),
  );
  expect(wire).toEqual(proto);
  if ('error' in proto) throw proto.error;
  return proto.rows;
};

const signature: SignatureInput[] = [
  { name: 'age', datatype: 'FP64', kind: 'numeric', nullable: false },
  { name: 'hours', datatype: 'FP64', kind: 'numeric', nullable: true },
  { name: 'sex', datatype: 'BYTES', kind: 'categorical', nullable: true },
];
const numericSignature = signature.slice(0, 2);

const fp64 = (name: string, values: number[], shape = [values.length]): InferInputTensor => ({
  name,
  datatype: 'FP64',
  shape,
  contents: { fp64Contents: values },
});
const bytes = (name: string, values: string[], shape = [values.length]): InferInputTensor => ({
  name,
  datatype: 'BYTES',
  shape,
  contents: { bytesContents: values.map((v) => Buffer.from(v)) },
});
const le = (kind: 'f64' | 'f32' | 'i64' | 'i32', values: number[]): Buffer => {
  const size = kind === 'f64' || kind === 'i64' ? 8 : 4;
  const buffer = Buffer.alloc(values.length * size);
  values.forEach((v, i) => {
    if (kind === 'f64') buffer.writeDoubleLE(v, i * size);
    else if (kind === 'f32') buffer.writeFloatLE(v, i * size);
    else if (kind === 'i64') buffer.writeBigInt64LE(BigInt(v), i * size);
    else buffer.writeInt32LE(v, i * size);
  });
  return buffer;
};

/** The error decodeInferInputs throws for these inputs (fails the test if it does not throw). */
function invalid(
  inputs: InferInputTensor[],
  raw?: Buffer[],
  sig = signature,
  maxRows?: number,
): InvalidInferInputError {
  try {
    decode({ inputs, rawInputContents: raw }, sig, maxRows);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInferInputError);
    return error as InvalidInferInputError;
  }
  throw new Error('expected InvalidInferInputError');
}

describe('decodeInferInputs, one tensor per column', () => {
  it('given FP64 and BYTES columns in contents, when decoded, then returns one row per instance', () => {
    const rows = decode(
      { inputs: [fp64('age', [39, 50]), fp64('hours', [40, 13], [2, 1]), bytes('sex', ['Male', 'Female'])] },
      signature,
    );
    expect(rows).toEqual([
      { age: 39, hours: 40, sex: 'Male' },
      { age: 50, hours: 13, sex: 'Female' },
    ]);
  });

  it('given FP32, INT64 and INT32 numeric columns, when decoded, then reads each from its own field', () => {
    const rows = decode(
      {
        inputs: [
          { name: 'age', datatype: 'INT64', shape: [1], contents: { int64Contents: [39] } },
          { name: 'hours', datatype: 'FP32', shape: [1], contents: { fp32Contents: [40.5] } },
        ],
      },
      numericSignature,
    );
    expect(rows).toEqual([{ age: 39, hours: 40.5 }]);
    expect(
      decode(
        { inputs: [{ name: 'age', datatype: 'INT32', shape: [1], contents: { intContents: [7] } }] },
        numericSignature,
      ),
    ).toEqual([{ age: 7, hours: null }]);
  });

  it('given every input in raw_input_contents, when decoded, then reads little-endian values and length-prefixed bytes', () => {
    const inputs: InferInputTensor[] = [
      { name: 'age', datatype: 'INT32', shape: [2] },
      { name: 'hours', datatype: 'FP64', shape: [2, 1] },
      { name: 'sex', datatype: 'BYTES', shape: [2] },
    ];
    const raw = [le('i32', [39, 50]), le('f64', [40.25, 13]), encodeRawBytes(['Male', 'Femme é'])];
    expect(decode({ inputs, rawInputContents: raw }, signature)).toEqual([
      { age: 39, hours: 40.25, sex: 'Male' },
      { age: 50, hours: 13, sex: 'Femme é' },
    ]);
  });

  it('given NaN and an empty string in nullable columns or omitted nullable columns, then they are null', () => {
    expect(decode({ inputs: [fp64('age', [1]), fp64('hours', [NaN])] }, signature)).toEqual([
      { age: 1, hours: null, sex: null },
    ]);
    expect(decode({ inputs: [fp64('age', [1]), bytes('sex', [''])] }, signature)).toEqual([
      { age: 1, hours: null, sex: null },
    ]);
  });

  it.each<[string, () => InvalidInferInputError, string, RegExp]>([
    ['an unknown input name', () => invalid([fp64('agee', [1]), fp64('hours', [1])]), 'agee', /not an input/],
    ['a missing required input', () => invalid([fp64('hours', [1])]), 'age', /missing required input "age"/],
    ['a duplicated input', () => invalid([fp64('age', [1]), fp64('age', [2])]), 'age', /more than once/],
    ['BYTES for a numeric column', () => invalid([bytes('age', ['39'])]), 'age', /datatype BYTES.*numeric/],
    ['FP64 for a categorical column', () => invalid([fp64('age', [1]), fp64('sex', [1])]), 'sex', /categorical/],
    ['an unsupported datatype', () => invalid([{ ...fp64('age', [1]), datatype: 'BOOL' }]), 'age', /BOOL/],
    [
      'values in the wrong contents field',
      () => invalid([{ name: 'age', datatype: 'FP64', shape: [1], contents: { fp32Contents: [1] } }]),
      'age',
      /fp64_contents, not fp32_contents/,
    ],
    ['a shape larger than the contents', () => invalid([fp64('age', [39], [7])]), 'age', /shape \[7\].*1 values/],
    ['a shape smaller than the contents', () => invalid([fp64('age', [1, 2], [1])]), 'age', /2 values/],
    ['a 2-d column shape', () => invalid([fp64('age', [1, 2], [1, 2])]), 'age', /\[n\] or \[n, 1\]/],
    ['a zero-row shape', () => invalid([fp64('age', [], [0])]), 'age', /positive integers/],
    [
      'inconsistent rows across inputs',
      () => invalid([fp64('age', [1, 2]), fp64('hours', [1])]),
      'hours',
      /1 rows but input "age" has 2/,
    ],
    ['Infinity', () => invalid([fp64('age', [1]), fp64('hours', [Infinity])]), 'hours', /non-finite/],
    [
      '-Infinity in raw bytes',
      () => invalid([{ name: 'age', datatype: 'FP64', shape: [1] }], [le('f64', [-Infinity])]),
      'age',
      /non-finite/,
    ],
    ['NaN in a non-nullable column', () => invalid([fp64('age', [NaN])]), 'age', /not nullable/],
    ['too many rows', () => invalid([fp64('age', [1, 2, 3])], undefined, signature, 2), 'age', /at most 2/],
    [
      'raw contents for only some inputs',
      () => invalid([fp64('age', [1]), fp64('hours', [1])], [le('f64', [1])]),
      '',
      /raw_input_contents has 1/,
    ],
    ['both contents and raw contents', () => invalid([fp64('age', [1])], [le('f64', [1])]), 'age', /use one/],
    [
      'raw bytes that are not whole values',
      () => invalid([{ name: 'age', datatype: 'FP64', shape: [1] }], [Buffer.alloc(7)]),
      'age',
      /7 raw bytes/,
    ],
    [
      'a truncated raw BYTES length prefix',
      () => invalid([fp64('age', [1]), { name: 'sex', datatype: 'BYTES', shape: [1] }].slice(1), [Buffer.from([1, 0])]),
      'sex',
      /length prefix/,
    ],
    [
      'a raw BYTES element past the end',
      () => invalid([{ name: 'sex', datatype: 'BYTES', shape: [1] }], [Buffer.from([9, 0, 0, 0, 65])]),
      'sex',
      /runs past/,
    ],
    [
      'invalid UTF-8',
      () =>
        invalid([
          fp64('age', [1]),
          { name: 'sex', datatype: 'BYTES', shape: [1], contents: { bytesContents: [Buffer.from([0xff])] } },
        ]),
      'sex',
      /UTF-8/,
    ],
    ['no inputs', () => invalid([]), '', /no inputs/],
  ])('given %s, when decoded, then INVALID_ARGUMENT names the input', (_case, run, input, message) => {
    const error = run();
    expect(error.message).toMatch(message);
    if (input) {
      expect(error.input).toBe(input);
      expect(error.message).toContain(`"${input}"`);
    }
  });
});

describe('decodeInferInputs, one matrix', () => {
  it('given an FP32 [n, k] tensor named input, when decoded, then its columns are the signature inputs in order', () => {
    const rows = decode(
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 2], contents: { fp32Contents: [1, 2, 3, 4] } }] },
      numericSignature,
    );
    expect(rows).toEqual([
      { age: 1, hours: 2 },
      { age: 3, hours: 4 },
    ]);
  });

  it('given a raw FP64 matrix under any name, when decoded, then reads it row-major', () => {
    const rows = decode(
      { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 2] }], rawInputContents: [le('f64', [5, 6])] },
      numericSignature,
    );
    expect(rows).toEqual([{ age: 5, hours: 6 }]);
  });

  it.each<[string, InferInputTensor, SignatureInput[], RegExp]>([
    [
      'a categorical column',
      { name: 'input', datatype: 'FP64', shape: [1, 3], contents: { fp64Contents: [1, 2, 3] } },
      signature,
      /"sex" is categorical/,
    ],
    [
      'an INT64 matrix',
      { name: 'input', datatype: 'INT64', shape: [1, 2], contents: { int64Contents: [1, 2] } },
      numericSignature,
      /FP64 or FP32/,
    ],
    [
      'k not matching the signature',
      { name: 'input', datatype: 'FP64', shape: [1, 3], contents: { fp64Contents: [1, 2, 3] } },
      numericSignature,
      /\[n, 2\]/,
    ],
    [
      'a 1-d shape',
      { name: 'input', datatype: 'FP64', shape: [2], contents: { fp64Contents: [1, 2] } },
      numericSignature,
      /\[n, 2\]/,
    ],
    [
      'contents not matching the shape',
      { name: 'input', datatype: 'FP64', shape: [2, 2], contents: { fp64Contents: [1, 2] } },
      numericSignature,
      /4 values\) but carries 2/,
    ],
    [
      'NaN in a non-nullable column',
      { name: 'input', datatype: 'FP64', shape: [1, 2], contents: { fp64Contents: [NaN, 1] } },
      numericSignature,
      /not nullable/,
    ],
  ])('given %s, when decoded, then INVALID_ARGUMENT names the matrix input', (_case, tensor, sig, message) => {
    const error = invalid([tensor], undefined, sig);
    expect(error.input).toBe(tensor.name);
    expect(error.message).toMatch(message);
  });
});

describe('raw tensor encoding', () => {
  it('given strings, when encoded as raw BYTES, then each has a 4-byte little-endian length prefix', () => {
    expect([...encodeRawBytes(['ab', ''])]).toEqual([2, 0, 0, 0, 97, 98, 0, 0, 0, 0]);
    expect(decodeRaw('x', 'BYTES', encodeRawBytes(['ab', '', 'é']))).toEqual(['ab', '', 'é']);
  });

  it('given little-endian numbers, when decoded, then each datatype has its width', () => {
    expect(decodeRaw('x', 'FP32', le('f32', [1.5, -2]))).toEqual([1.5, -2]);
    expect(decodeRaw('x', 'INT64', le('i64', [-3, 2 ** 40]))).toEqual([-3, 2 ** 40]);
  });
});

describe('outputs', () => {
  const available = [
    { name: 'probability', datatype: 'FP64' as const, description: '' },
    { name: 'label', datatype: 'BYTES' as const, description: '' },
  ];

  it('given model outputs, when encoded, then FP64 goes to fp64_contents and labels to bytes_contents, shape [n]', () => {
    const outputs = { probability: Float64Array.of(0.2, 0.7), label: ['<=50K', '>50K'] };
    const { outputs: tensors, rawOutputContents } = encodeOutputs(outputs, available, 2);
    expect(rawOutputContents).toEqual([]);
    expect(tensors).toEqual([
      OutputTensor.fromPartial({
        name: 'probability',
        datatype: 'FP64',
        shape: [2],
        contents: { fp64Contents: [0.2, 0.7] },
      }),
      OutputTensor.fromPartial({
        name: 'label',
        datatype: 'BYTES',
        shape: [2],
        contents: { bytesContents: [Buffer.from('<=50K'), Buffer.from('>50K')] },
      }),
    ]);
  });

  it('given raw inputs, when encoded raw, then each output is one raw_output_contents entry and tensors carry no contents', () => {
    const outputs = { probability: Float64Array.of(0.25, 0.75).subarray(1), label: ['>50K'] };
    const { outputs: tensors, rawOutputContents } = encodeOutputs(outputs, available, 1, true);
    expect(tensors.map((tensor) => [tensor.name, tensor.shape, tensor.contents])).toEqual([
      ['probability', [1], undefined],
      ['label', [1], undefined],
    ]);
    expect(rawOutputContents).toEqual([le('f64', [0.75]), encodeRawBytes(['>50K'])]);
  });

  it('given requested outputs, when selected, then only those in request order; an unknown one is named', () => {
    expect(selectOutputs([{ name: 'label' }], available).map((o) => o.name)).toEqual(['label']);
    expect(selectOutputs([], available).map((o) => o.name)).toEqual(['probability', 'label']);
    expect(() => selectOutputs([{ name: 'score' }], available)).toThrow(/requested output "score"/);
  });
});
