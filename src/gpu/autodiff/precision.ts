/**
 * Float precision rewrite of a graph: every float32 input, output, initializer, Cast target and
 * Constant becomes float64 (or back). The model builder emits float32; the gradient checks
 * run the same graph in float64 so that finite differences and the TypeScript reference can be
 * compared at 1e-6 and tighter.
 */
import type { Attr, DType, Graph, Node, TensorData, ValueInfo } from '../graph/ir.js';
import { attr } from '../graph/ir.js';
import { ONNX_TYPE } from './emit.js';

function convTensor(t: TensorData, from: DType, to: DType): TensorData {
  if (t.dtype !== from) return t;
  const data = to === 'float64' ? Float64Array.from(t.data as Float32Array) : Float32Array.from(t.data as Float64Array);
  return { ...t, dtype: to, data };
}

/** Rewrites every `from` float tensor type of the graph to `to` (float32 ↔ float64). */
export function convertFloats(graph: Graph, from: DType = 'float32', to: DType = 'float64'): Graph {
  const vi = (v: ValueInfo): ValueInfo => (v.dtype === from ? { ...v, dtype: to } : v);
  const node = (n: Node): Node => {
    const attrs: Record<string, Attr> = {};
    for (const [k, a] of Object.entries(n.attrs)) {
      if (n.opType === 'Cast' && k === 'to' && a.type === 'int' && a.value === ONNX_TYPE[from]) attrs[k] = attr.int(ONNX_TYPE[to]);
      else if (a.type === 'tensor') attrs[k] = attr.tensor(convTensor(a.value, from, to));
      else attrs[k] = a;
    }
    return { ...n, attrs };
  };
  return {
    ...graph,
    inputs: graph.inputs.map(vi),
    outputs: graph.outputs.map(vi),
    initializers: graph.initializers.map((t) => convTensor(t, from, to)),
    nodes: graph.nodes.map(node),
    ...(graph.valueInfo ? { valueInfo: graph.valueInfo.map(vi) } : {}),
  };
}
