import onnxProto from 'onnx-proto';
import type { Attr, DType, Graph, OpsetImport, TensorData, ValueInfo } from './ir.js';
import { DEFAULT_OPSETS } from './ir.js';

const { onnx } = onnxProto;

const DATA_TYPE: Readonly<Record<DType, number>> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
};

export const dtypeFromOnnx = (code: number): DType | undefined =>
  (Object.keys(DATA_TYPE) as DType[]).find((k) => DATA_TYPE[k] === code);

function tensorProto(t: TensorData): onnxProto.onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name: t.name, dataType: DATA_TYPE[t.dtype], dims: [...t.dims], rawData: bytes };
}

function valueInfoProto(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attributeProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorProto(a.value) };
    default: {
      const never: never = a;
      throw new Error(`unknown attribute kind ${JSON.stringify(never)}`);
    }
  }
}

/** Encodes a graph as an ONNX ModelProto (IR version 8) with the official onnx.proto schema. */
export function serializeModel(
  graph: Graph,
  opts: { opsets?: readonly OpsetImport[]; producer?: string } = {},
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: opts.producer ?? 'specstream',
    opsetImport: (opts.opsets ?? DEFAULT_OPSETS).map((o) => ({ domain: o.domain, version: o.version })),
    graph: {
      name: graph.name,
      input: graph.inputs.map(valueInfoProto),
      output: graph.outputs.map(valueInfoProto),
      initializer: graph.initializers.map(tensorProto),
      valueInfo: (graph.valueInfo ?? []).map(valueInfoProto),
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attributeProto(k, a)),
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
