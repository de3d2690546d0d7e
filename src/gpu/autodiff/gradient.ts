/**
 * Reverse-mode automatic differentiation over the graph IR: Graph → Graph with gradient outputs.
 */
import type { DType, Graph } from '../graph/ir.js';
import { GraphBuilder } from '../graph/ir.js';
import { Emitter, isFloat } from './emit.js';
import { NON_DIFFERENTIABLE, RULES } from './rules.js';
import type { ValueMeta } from './shapes.js';
import { inferShapes, numel } from './shapes.js';

export interface GradientOptions {
  /** Name of the scalar loss value (rank 0 or a single element). */
  readonly loss: string;
  /** Values to differentiate with respect to: graph inputs (the weights), or any float value. */
  readonly wrt: readonly string[];
  /** Static shapes for inputs declared with symbolic dims (e.g. the batch's [B, T]). */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Output name of each gradient; default `grad.<name>`. */
  readonly gradName?: (wrt: string) => string;
}

export interface GradientGraph {
  readonly graph: Graph;
  /** wrt value → gradient output name. */
  readonly gradOutputs: ReadonlyMap<string, string>;
  /** Static shapes of every forward value. */
  readonly shapes: ReadonlyMap<string, ValueMeta>;
}

/**
 * Appends the backward pass to `graph`: the new graph keeps every input and output of the
 * forward graph and adds one output per `wrt` value holding d loss / d value.
 *
 * 1. Infer static shapes and small constant values of every forward value.
 * 2. Mark the values that depend on a `wrt` value (forward sweep; float values only).
 * 3. Seed d loss / d loss = 1 and walk the nodes in reverse topological order; for each node
 *    with an output gradient and an input that needs one, sum the output's gradient
 *    contributions (Sum node when several consumers) and apply the op's rule.
 * 4. Expose each wrt gradient as an output (zeros when the loss does not depend on it).
 */
export function gradient(graph: Graph, opts: GradientOptions): GradientGraph {
  const shapes = inferShapes(graph, opts.inputShapes ?? {});
  const gradName = opts.gradName ?? ((w: string) => `grad.${w}`);
  const lossMeta = shapes.get(opts.loss);
  if (!lossMeta) throw new Error(`autodiff: loss value "${opts.loss}" is not in graph ${graph.name}`);
  if (numel(lossMeta.shape) !== 1) throw new Error(`autodiff: loss "${opts.loss}" must be a scalar, has shape [${lossMeta.shape}]`);
  for (const w of opts.wrt) {
    const m = shapes.get(w);
    if (!m) throw new Error(`autodiff: wrt value "${w}" is not in graph ${graph.name}`);
    if (!isFloat(m.dtype)) throw new Error(`autodiff: wrt value "${w}" has dtype ${m.dtype}; only float values have gradients`);
  }

  // 2. forward sweep: which values depend on a wrt value
  const requires = new Set<string>(opts.wrt);
  for (const node of graph.nodes) {
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    if (node.inputs.some((i) => requires.has(i))) {
      for (const o of node.outputs) if (o !== '' && isFloat(shapes.get(o)!.dtype)) requires.add(o);
    }
  }

  // rebuild the forward graph into a builder (names are kept), then append the backward nodes
  const b = new GraphBuilder(graph.name);
  const fixedShape = (n: string, fallback: readonly (number | string)[]): readonly (number | string)[] =>
    shapes.get(n)?.shape ?? fallback;
  for (const i of graph.inputs) b.input(i.name, i.dtype, fixedShape(i.name, i.shape));
  for (const t of graph.initializers) b.initializer(t.name, t.dtype, t.dims, t.data);
  for (const n of graph.nodes) b.op(n.opType, n.inputs, n.attrs, { outputs: n.outputs, domain: n.domain, name: n.name });
  const e = new Emitter(b, new Map(shapes));

  // 3. reverse sweep
  const contribs = new Map<string, string[]>();
  const add = (v: string, g: string): void => {
    const list = contribs.get(v);
    if (list) list.push(g);
    else contribs.set(v, [g]);
  };
  const total = (v: string): string | undefined => {
    const list = contribs.get(v);
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    const s = e.op('Sum', list);
    contribs.set(v, [s]);
    return s;
  };
  if (!requires.has(opts.loss)) throw new Error(`autodiff: loss "${opts.loss}" does not depend on any wrt value`);
  add(opts.loss, e.op('Expand', [e.scalar(1, lossMeta.dtype), e.ints(lossMeta.shape)]));
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k]!;
    const needs = node.inputs.map((i) => i !== '' && requires.has(i));
    if (!needs.some(Boolean)) continue;
    const dy = node.outputs.map((o) => (o === '' ? undefined : total(o)));
    if (dy.every((g) => g === undefined)) continue;
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    const rule = RULES[node.opType];
    if (!rule || node.domain !== '') {
      throw new Error(`autodiff: no gradient rule for ${node.domain ? node.domain + '.' : ''}${node.opType} (node ${node.name})`);
    }
    const dx = rule({ node, e, dy, needs });
    node.inputs.forEach((inp, i) => {
      const g = dx[i];
      if (g !== undefined && needs[i]) add(inp, g);
    });
  }

  // 4. outputs: the forward outputs, then one gradient per wrt
  for (const o of graph.outputs) b.output(o.name, o.dtype, fixedShape(o.name, o.shape));
  const gradOutputs = new Map<string, string>();
  for (const w of opts.wrt) {
    const m = shapes.get(w)!;
    const g = total(w) ?? e.zeros(m.shape, m.dtype);
    const name = gradName(w);
    b.output(g, m.dtype as DType, m.shape, name);
    gradOutputs.set(w, name);
  }
  return { graph: b.build(), gradOutputs, shapes };
}
