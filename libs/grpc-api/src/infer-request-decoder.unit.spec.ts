import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { type DeepPartial, ModelInferRequest } from './index';
import { decodeModelInferRequest } from './infer-request-decoder';

const utf8 = (text: string) => new TextEncoder().encode(text);

/** ts-proto's decode with FP64 contents as numbers and BYTES elements as text, the fast decoder's values compared. */
function normalized(request: ReturnType<typeof decodeModelInferRequest>) {
  return {
    ...request,
    rawInputContents: request.rawInputContents.map((bytes) => [...bytes]),
    inputs: request.inputs.map((input) => ({
      ...input,
      contents: input.contents && {
        ...input.contents,
        fp64Contents: [...input.contents.fp64Contents],
        bytesContents: input.contents.bytesContents.map((element) =>
          typeof element === 'string' ? element : Buffer.from(element).toString('utf8'),
        ),
      },
    })),
  };
}

const cases: Record<string, DeepPartial<ModelInferRequest>> = {
  'typed columns with parameters and requested outputs': {
    modelName: 'adult-income',
    modelVersion: '3',
    id: 'request-1',
    parameters: { keel_routing_key: { stringParam: 'user-7' }, priority: { int64Param: 2 } },
    inputs: [
      { name: 'age', datatype: 'FP64', shape: [3], contents: { fp64Contents: [39, 50.5, Number.NaN] } },
      {
        name: 'workclass',
        datatype: 'BYTES',
        shape: [3, 1],
        parameters: { binary_data_size: { int64Param: 12 } },
        contents: { bytesContents: [utf8('Private'), utf8(''), utf8('Self-emp-not-inc')] },
      },
    ],
    outputs: [{ name: 'probability', parameters: { binary_data: { boolParam: true } } }],
  },
  'raw input contents': {
    modelName: 'm',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [2] }],
    rawInputContents: [new Uint8Array(new Float32Array([1.5, -2]).buffer)],
  },
  'non-ASCII and long BYTES elements': {
    modelName: 'm',
    inputs: [
      {
        name: 'country',
        datatype: 'BYTES',
        shape: [3],
        contents: { bytesContents: [utf8('Côte d’Ivoire'), utf8('x'.repeat(200)), utf8('Cuba')] },
      },
    ],
  },
  'datatypes off the fast path': {
    modelName: 'm',
    inputs: [
      { name: 'a', datatype: 'INT64', shape: [2], contents: { int64Contents: [1, -5] } },
      { name: 'b', datatype: 'INT32', shape: [1], contents: { intContents: [-3] } },
      { name: 'c', datatype: 'FP32', shape: [1], contents: { fp32Contents: [0.5] } },
      { name: 'd', datatype: 'BOOL', shape: [1], contents: { boolContents: [true] } },
    ],
  },
  'an empty request': {},
};

describe('decodeModelInferRequest', () => {
  it.each(Object.entries(cases))('decodes %s as ts-proto does', (_name, partial) => {
    const bytes = ModelInferRequest.encode(ModelInferRequest.fromPartial(partial)).finish();
    expect(normalized(decodeModelInferRequest(Buffer.from(bytes)))).toEqual(
      normalized(ModelInferRequest.decode(bytes)),
    );
  });

  it('reads FP64 values into a Float64Array and ASCII elements as shared strings', () => {
    const request = ModelInferRequest.fromPartial(cases['typed columns with parameters and requested outputs']);
    const bytes = Buffer.from(ModelInferRequest.encode(request).finish());
    const [first, second] = [decodeModelInferRequest(bytes), decodeModelInferRequest(bytes)];
    expect(first.inputs[0].contents?.fp64Contents).toBeInstanceOf(Float64Array);
    expect(first.inputs[1].contents?.bytesContents[0]).toBe('Private');
    expect(second.inputs[1].contents?.bytesContents[0]).toBe(first.inputs[1].contents?.bytesContents[0]);
  });

  it('keeps invalid UTF-8 as bytes for the caller to refuse', () => {
    const bytes = ModelInferRequest.encode(
      ModelInferRequest.fromPartial({
        inputs: [
          { name: 'c', datatype: 'BYTES', shape: [1], contents: { bytesContents: [Uint8Array.of(0xff, 0xfe)] } },
        ],
      }),
    ).finish();
    expect([...(decodeModelInferRequest(bytes).inputs[0].contents?.bytesContents[0] as Uint8Array)]).toEqual([
      0xff, 0xfe,
    ]);
  });

  it('reads unpacked doubles and several packed runs of one tensor in order', () => {
    const contents = new BinaryWriter();
    contents.uint32(57).double(1.5).uint32(57).double(-2);
    contents.uint32(58).fork().double(3).double(4).join();
    const tensor = new BinaryWriter().uint32(10).string('x').uint32(18).string('FP64');
    tensor.uint32(42).bytes(contents.finish());
    const bytes = new BinaryWriter().uint32(42).bytes(tensor.finish()).finish();
    expect([...(decodeModelInferRequest(bytes).inputs[0].contents?.fp64Contents ?? [])]).toEqual([1.5, -2, 3, 4]);
    expect(ModelInferRequest.decode(bytes).inputs[0].contents?.fp64Contents).toEqual([1.5, -2, 3, 4]);
  });

  it('refuses truncated messages', () => {
    const bytes = ModelInferRequest.encode(ModelInferRequest.fromPartial(cases['raw input contents'])).finish();
    expect(() => decodeModelInferRequest(bytes.subarray(0, bytes.length - 3))).toThrow(/past|truncated/);
  });
});
