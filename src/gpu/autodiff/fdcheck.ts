/**
 * Finite-difference check of gradient graphs, in float64 on ONNX Runtime's CPU provider.
 *
 * The forward graph is run at x ± h·eᵢ for each checked element i (central differences,
 * truncation error O(h²) ≈ 1e-10 relative at h = 1e-5 in float64), and compared with the
 * gradient graph's output at x.
 */
import * as ort from 'onnxruntime-node';
import type { Graph } from '../graph/ir.js';
import { serializeModel } from '../graph/serialize.js';
import { gradient } from './gradient.js';

export type Feeds = Record<string, ort.Tensor>;

export interface FdResult {
  /** wrt → max |analytic − numeric| / max(max |numeric|, floor) over checked elements. */
  readonly relError: Record<string, number>;
  readonly analytic: Record<string, Float64Array>;
  readonly numeric: Record<string, Float64Array>;
}

export async function createSession(graph: Graph): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(serializeModel(graph), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'disabled', // compare the graph as written, not a fused rewrite
  });
}

/** Runs a session and returns a float64 copy of output `name`. */
export async function runScalar(session: ort.InferenceSession, feeds: Feeds, name: string): Promise<number> {
  const out = await session.run(feeds, [name]);
  return Number((out[name]!.data as Float64Array)[0]);
}

/**
 * Checks d loss / d wrt of `graph` (a float64 graph with a scalar `loss` output) against central
 * differences. `maxElems` limits the checked elements per tensor (a deterministic stride).
 */
export async function fdCheck(
  graph: Graph,
  opts: { loss: string; wrt: readonly string[]; feeds: Feeds; h?: number; maxElems?: number; floor?: number },
): Promise<FdResult> {
  const h = opts.h ?? 1e-5;
  const { graph: gg, gradOutputs } = gradient(graph, { loss: opts.loss, wrt: opts.wrt });
  const fwd = await createSession(graph);
  const bwd = await createSession(gg);
  const res = await bwd.run(opts.feeds);
  const relError: Record<string, number> = {};
  const analytic: Record<string, Float64Array> = {};
  const numeric: Record<string, Float64Array> = {};
  for (const w of opts.wrt) {
    const base = opts.feeds[w]!;
    const data = base.data as Float64Array;
    const g = Float64Array.from(res[gradOutputs.get(w)!]!.data as Float64Array);
    const n = data.length;
    const stride = Math.max(1, Math.floor(n / (opts.maxElems ?? n)));
    const num = new Float64Array(n).fill(NaN);
    let maxNum = 0;
    let maxDiff = 0;
    for (let i = 0; i < n; i += stride) {
      const plus = Float64Array.from(data);
      const minus = Float64Array.from(data);
      plus[i]! += h;
      minus[i]! -= h;
      const lp = await runScalar(fwd, { ...opts.feeds, [w]: new ort.Tensor('float64', plus, base.dims) }, opts.loss);
      const lm = await runScalar(fwd, { ...opts.feeds, [w]: new ort.Tensor('float64', minus, base.dims) }, opts.loss);
      num[i] = (lp - lm) / (2 * h);
      maxNum = Math.max(maxNum, Math.abs(num[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(num[i]! - g[i]!));
    }
    relError[w] = maxDiff / Math.max(maxNum, opts.floor ?? 1e-8);
    analytic[w] = g;
    numeric[w] = num;
  }
  await fwd.release();
  await bwd.release();
  return { relError, analytic, numeric };
}
