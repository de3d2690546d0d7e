// Usage (after npm run build; on the GPU machine: bash .device/run.sh node scripts/experiments/joint-placement.mjs):
// which nodes of the bench pair's graphs ONNX Runtime's WebGPU provider leaves to the CPU
// provider — the target graph, the draft's k-step greedy graph and the joint round graph
// (fused variants, as the WebGPU decoders use). A node on the CPU inside a WebGPU graph costs a
// device → host → device copy of its inputs and outputs per run. Prints, per graph, ORT's own
// placement messages (verbose log level) about the CPU provider.
import * as ort from 'onnxruntime-node';
import { buildGreedyDraftModel, buildLlamaModel } from '../../dist/gpu/model/llamaGraph.js';
import { buildRoundModel } from '../../dist/gpu/model/roundGraph.js';
import { benchPairWeights } from './benchPair.mjs';

const K = Number(process.env.K ?? 4);
const { config, weights, cut } = benchPairWeights();
const graphs = {
  target: () => buildLlamaModel(config, { weightsAs: 'initializers', weights, logitsToKeep: true, fused: true }),
  draft: () => buildGreedyDraftModel(cut.config, K, { weights: cut.weights, fused: true }),
  joint: () => buildRoundModel({ target: { config, weights }, draft: cut, k: K, fused: true }),
};
for (const [name, build] of Object.entries(graphs)) {
  console.log(`=== ${name} (k = ${K}) ===`);
  const s = await ort.InferenceSession.create(build(), { executionProviders: ['webgpu', 'cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 0, logVerbosityLevel: 0 });
  await s.release();
}
