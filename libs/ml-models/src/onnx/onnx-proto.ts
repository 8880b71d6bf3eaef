import { ProtoWriter } from './protobuf';

/** ONNX TensorProto.DataType values we use. */
export const ELEM_FLOAT = 1;
export const ELEM_INT64 = 7;

/** An attribute value; arrays of numbers become FLOATS or INTS according to `kind`. */
export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'floats'; value: ArrayLike<number> }
  | { kind: 'ints'; value: ArrayLike<number> }
  | { kind: 'strings'; value: string[] };

/** One graph node. */
export interface OnnxNode {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: [string, Attr][];
}

/** A graph input or output: a tensor of `elemType` with dims (null = symbolic batch size). */
export interface OnnxValue {
  name: string;
  elemType: number;
  dims: (number | null)[];
}

function attribute(name: string, a: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  // AttributeProto: f=2, i=3, s=4, floats=7, ints=8, strings=9, type=20.
  switch (a.kind) {
    case 'int':
      return w.int(3, a.value).int(20, 2);
    case 'string':
      return w.string(4, a.value).int(20, 3);
    case 'floats':
      return w.packedFloats(7, a.value).int(20, 6);
    case 'ints':
      return w.packedInts(8, a.value).int(20, 7);
    case 'strings':
      for (const s of a.value) w.string(9, s);
      return w.int(20, 8);
  }
}

function valueInfo(v: OnnxValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) shape.message(1, d === null ? new ProtoWriter().string(2, 'N') : new ProtoWriter().int(1, d));
  const tensor = new ProtoWriter().int(1, v.elemType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensor));
}

/** Encode a ModelProto with one graph. IR version 8 with ai.onnx.ml opset 3 (onnxruntime ≥ 1.10). */
export function encodeModel(args: {
  graphName: string;
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  docString: string;
}): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of args.nodes) {
    const node = new ProtoWriter();
    for (const i of n.inputs) node.string(1, i);
    for (const o of n.outputs) node.string(2, o);
    node.string(3, n.name).string(4, n.opType);
    for (const [name, a] of n.attributes) node.message(5, attribute(name, a));
    node.string(7, n.domain);
    graph.message(1, node);
  }
  graph.string(2, args.graphName);
  for (const v of args.inputs) graph.message(11, valueInfo(v));
  for (const v of args.outputs) graph.message(12, valueInfo(v));
  // ModelProto: ir_version=1, producer_name=2, producer_version=3, doc_string=6, graph=7, opset_import=8.
  return new ProtoWriter()
    .int(1, 8)
    .string(2, 'keel.ml-models')
    .string(3, '1')
    .string(6, args.docString)
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, 15))
    .message(8, new ProtoWriter().string(1, 'ai.onnx.ml').int(2, 3))
    .finish();
}
