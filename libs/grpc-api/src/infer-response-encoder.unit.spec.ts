import { describe, expect, it } from 'vitest';
import { ModelInferResponse } from './generated/inference/grpc_predict_v2.pb';
import { encodeModelInferResponse } from './infer-response-encoder';

const tsProto = (message: ModelInferResponse) => Buffer.from(ModelInferResponse.encode(message).finish());
const bytes = (text: string) => Buffer.from(text, 'utf8');

/** Responses as serving answers them, and the ones off its fast path, each encoded by both encoders. */
const cases: Record<string, ModelInferResponse> = {
  'typed outputs, as serving answers typed inputs': ModelInferResponse.fromPartial({
    modelName: 'adult-income',
    modelVersion: '3',
    id: 'request-1',
    parameters: { prediction_id: { stringParam: '0b7e5f6c-2f7e-4b55-9a43-1d1b7a1c2e3f' } },
    outputs: [
      { name: 'probability', datatype: 'FP64', shape: [2], contents: { fp64Contents: [0.25, 0.75] } },
      { name: 'label', datatype: 'BYTES', shape: [2], contents: { bytesContents: [bytes('>50K'), bytes('<=50K')] } },
    ],
  }),
  'raw outputs, as serving answers raw inputs': ModelInferResponse.fromPartial({
    modelName: 'm',
    modelVersion: '12',
    outputs: [{ name: 'probability', datatype: 'FP64', shape: [300] }],
    rawOutputContents: [Buffer.alloc(2_400, 7), Buffer.alloc(0)],
  }),
  'multi-byte text, long fields, wide shapes, an empty string parameter': ModelInferResponse.fromPartial({
    modelName: 'modèle-é',
    id: 'x'.repeat(300),
    parameters: { '': { stringParam: '' }, clé: { stringParam: 'välue' } },
    outputs: [
      {
        name: 'probability',
        datatype: 'FP64',
        shape: [70_000, 3, 2 ** 40],
        contents: { fp64Contents: [Number.NaN, -0, Number.MAX_VALUE, 1e-300, -Infinity] },
      },
      { name: 'label', datatype: 'BYTES', shape: [1], contents: { bytesContents: [bytes('ünïcode'), bytes('')] } },
      { name: '', datatype: '', shape: [], contents: undefined },
    ],
  }),
  'empty message': ModelInferResponse.fromPartial({}),
  'off the fast path: typed parameters, other contents, output parameters, negative shape':
    ModelInferResponse.fromPartial({
      parameters: { a: { int64Param: -5 }, b: { boolParam: true }, c: { doubleParam: 0.5 }, d: {} },
      outputs: [
        { name: 'i', datatype: 'INT32', shape: [2], contents: { intContents: [1, -2] } },
        { name: 'p', datatype: 'FP64', shape: [-1], parameters: { binary_data: { boolParam: true } } },
      ],
    }),
};

describe('encodeModelInferResponse', () => {
  for (const [name, message] of Object.entries(cases)) {
    it(`writes the bytes ts-proto writes: ${name}`, () => {
      const encoded = encodeModelInferResponse(message);
      expect(encoded.equals(tsProto(message))).toBe(true);
      expect(ModelInferResponse.decode(encoded)).toEqual(ModelInferResponse.decode(tsProto(message)));
    });
  }

  it('leaves a parameter without a value to ts-proto', () => {
    const message = {
      ...ModelInferResponse.fromPartial({}),
      parameters: { absent: undefined },
    } as unknown as ModelInferResponse;
    expect(encodeModelInferResponse(message).equals(tsProto(message))).toBe(true);
  });

  it('encodes FP64 contents held in a Float64Array as the same numbers', () => {
    const values = Float64Array.of(0.1, 0.9);
    const message = ModelInferResponse.fromPartial({
      outputs: [{ name: 'probability', datatype: 'FP64', shape: [2], contents: { fp64Contents: [0.1, 0.9] } }],
    });
    const typed = {
      ...message,
      outputs: [
        {
          ...message.outputs[0],
          contents: { ...message.outputs[0].contents!, fp64Contents: values as unknown as number[] },
        },
      ],
    };
    expect(encodeModelInferResponse(typed).equals(tsProto(message))).toBe(true);
  });
});
