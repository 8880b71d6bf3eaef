import { describe, expect, it } from 'vitest';
import { InvalidInferInputError } from '../tensor-codec';
import { decodeRestInferRequest, encodeRestInferResponse } from './rest-codec';

const target = { modelName: 'adult', modelVersion: '' };

describe('decodeRestInferRequest', () => {
  it('given JSON with nested row-major data and a null, then typed contents with NaN for the missing value', () => {
    const { request, binaryOutputs } = decodeRestInferRequest(
      {
        id: 'r1',
        inputs: [
          {
            name: 'm',
            datatype: 'FP64',
            shape: [2, 2],
            data: [
              [1, null],
              [3, 4],
            ],
          },
          { name: 'c', datatype: 'BYTES', shape: [2], data: ['a', 'b'] },
        ],
        outputs: [{ name: 'label' }],
      },
      target,
    );
    expect(request.id).toBe('r1');
    expect(Array.from(request.inputs[0].contents!.fp64Contents)).toEqual([1, Number.NaN, 3, 4]);
    expect(request.inputs[1].contents!.bytesContents).toEqual(['a', 'b']);
    expect(request.rawInputContents).toEqual([]);
    expect(binaryOutputs).toEqual(new Set());
  });

  it('given FP64 and BYTES data, then a Float64Array and the strings themselves, a lone surrogate replaced as UTF-8 would', () => {
    const { request } = decodeRestInferRequest(
      {
        inputs: [
          { name: 'x', datatype: 'FP64', shape: [2], data: [1.5, 2] },
          { name: 'c', datatype: 'BYTES', shape: [3], data: ['Private', 'é', 'a\ud800'] },
        ],
      },
      target,
    );
    const [x, c] = request.inputs.map((input) => input.contents!);
    expect(x.fp64Contents).toBeInstanceOf(Float64Array);
    expect(Array.from(x.fp64Contents)).toEqual([1.5, 2]);
    expect(c.bytesContents).toEqual(['Private', 'é', 'a\ufffd']);
  });

  it('given one binary input beside JSON ones, then every input goes raw, in order', () => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'x', datatype: 'FP64', shape: [1], parameters: { binary_data_size: 8 } },
          { name: 'c', datatype: 'BYTES', shape: [1], data: ['hi'] },
        ],
        parameters: { binary_data_output: true },
      }),
    );
    const x = Buffer.alloc(8);
    x.writeDoubleLE(2.5);
    const { request, binaryOutputs } = decodeRestInferRequest(Buffer.concat([header, x]), target, header.length);
    expect(request.inputs.every((input) => input.contents === undefined)).toBe(true);
    expect(Buffer.from(request.rawInputContents[0]).readDoubleLE(0)).toBe(2.5);
    expect([...request.rawInputContents[1]]).toEqual([2, 0, 0, 0, 104, 105]);
    expect(binaryOutputs).toBe(true);
  });

  it.each<[string, unknown, RegExp]>([
    ['no inputs', { inputs: [] }, /no inputs/],
    [
      'strings in a numeric tensor',
      { inputs: [{ name: 'x', datatype: 'FP64', shape: [1], data: ['1'] }] },
      /"x".*numbers/,
    ],
    ['an unsupported datatype', { inputs: [{ name: 'x', datatype: 'FP16', shape: [1], data: [1] }] }, /"x".*FP16/],
    [
      'a fraction in an integer tensor',
      { inputs: [{ name: 'x', datatype: 'INT64', shape: [1], data: [1.5] }] },
      /"x".*integers/,
    ],
    [
      'an object nested in data',
      { inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 1], data: [[1], [{ v: 2 }]] }] },
      /inputs\.0\.data: must be \(nested\) arrays of numbers, strings, booleans or null/,
    ],
    [
      'data that is not an array',
      { inputs: [{ name: 'x', datatype: 'FP64', shape: [1], data: 1 }] },
      /inputs\.0\.data/,
    ],
  ])('given %s, then INVALID_ARGUMENT saying so', (_case, body, message) => {
    expect(() => decodeRestInferRequest(body, target)).toThrow(InvalidInferInputError);
    expect(() => decodeRestInferRequest(body, target)).toThrow(message);
  });

  it('given row-major data nested far deeper than a body may be, then a clear error, not a stack overflow', () => {
    // A body parser bounds nesting before this; the decoder itself keeps its own stack all the same.
    let data: unknown = [{ v: 1 }];
    for (let i = 0; i < 200_000; i++) data = [data];
    const body = { inputs: [{ name: 'x', datatype: 'FP64', shape: [1], data }] };
    expect(() => decodeRestInferRequest(body, target)).toThrow(/inputs\.0\.data/);
  });

  it('given binary data that no input declares, or less than declared, then INVALID_ARGUMENT', () => {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1], data: [1] }] }));
    expect(() => decodeRestInferRequest(Buffer.concat([header, Buffer.alloc(8)]), target, header.length)).toThrow(
      /binary data/,
    );
    const declared = Buffer.from(
      JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1], parameters: { binary_data_size: 8 } }] }),
    );
    expect(() => decodeRestInferRequest(Buffer.concat([declared, Buffer.alloc(4)]), target, declared.length)).toThrow(
      /declares 8 bytes/,
    );
    expect(() => decodeRestInferRequest(Buffer.from('{"inputs": ['), target)).toThrow(/does not parse/);
  });
});

describe('encodeRestInferResponse', () => {
  const response = {
    modelName: 'adult',
    modelVersion: '3',
    id: 'r1',
    parameters: { prediction_id: { stringParam: 'p-1' } },
    outputs: [
      { name: 'probability', datatype: 'FP64', shape: [2], parameters: {}, contents: { fp64Contents: [0.25, 0.75] } },
      {
        name: 'label',
        datatype: 'BYTES',
        shape: [2],
        parameters: {},
        contents: { bytesContents: [Buffer.from('no'), Buffer.from('yes')] },
      },
    ],
    rawOutputContents: [],
  } as never;

  it('given no binary outputs asked, then JSON data and plain parameters', () => {
    expect(encodeRestInferResponse(response, new Set())).toEqual({
      json: {
        model_name: 'adult',
        model_version: '3',
        id: 'r1',
        parameters: { prediction_id: 'p-1' },
        outputs: [
          { name: 'probability', datatype: 'FP64', shape: [2], data: [0.25, 0.75] },
          { name: 'label', datatype: 'BYTES', shape: [2], data: ['no', 'yes'] },
        ],
      },
    });
  });

  it('given one output asked in binary, then its bytes follow the header and it declares their size', () => {
    const { json, binary } = encodeRestInferResponse(response, new Set(['label']));
    expect((json.outputs as object[])[1]).toEqual({
      name: 'label',
      datatype: 'BYTES',
      shape: [2],
      parameters: { binary_data_size: 13 },
    });
    expect(Buffer.concat(binary!).toString('latin1')).toBe('\u0002\u0000\u0000\u0000no\u0003\u0000\u0000\u0000yes');
  });
});
