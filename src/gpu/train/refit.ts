/**
 * Weight refit: after an optimiser step the generation sessions must use the new weights.
 *
 * What ONNX Runtime (onnxruntime-node 1.30) allows, and what specstream does:
 * - A session's initializers cannot be replaced in place from JavaScript (no API for it), and
 *   `SessionOptions.externalData` is honoured only by onnxruntime-web.
 * - So either the generation graph takes its weights as *inputs* (the builder's
 *   `weightsAs: 'inputs'`): refit is free — the next run is fed the new tensors — but every run
 *   feeds (on WebGPU: uploads) all weights, and CPU MatMuls lose weight pre-packing;
 * - or the session is *rebuilt from in-memory model bytes* (`InferenceSession.create(bytes)`):
 *   one serialisation + session initialisation per refit, no disk round trip, full speed
 *   between refits. specstream does this (`rebuildSession`); `npm run bench -- train` reports
 *   the refit time next to the step time.
 */
import type { LlamaConfig } from '../model/config.js';
import { buildLlamaModel } from '../model/llamaGraph.js';
import type { WeightMap } from '../weights/tensor.js';
import { CheckedSession } from '../runtime/session.js';
import type { Decoder, Device } from '../runtime/Decoder.js';
import { loadDecoder } from '../runtime/loadDecoder.js';

/** The generation model (KV-cache decoder, weights as initializers) for `weights`, as ONNX bytes in memory. */
export function generationModelBytes(config: LlamaConfig, weights: WeightMap): Uint8Array {
  return buildLlamaModel(config, { weightsAs: 'initializers', weights, kvCache: true });
}

/**
 * A fresh generation session for new weights, built from in-memory bytes (no file written).
 * The caller releases the previous session once no rollout uses it.
 */
export async function rebuildSession(
  config: LlamaConfig,
  weights: WeightMap,
  device: Device,
  opts: { gpuOutputs?: readonly string[]; version?: number } = {},
): Promise<CheckedSession> {
  return CheckedSession.create(generationModelBytes(config, weights), {
    device,
    ...(opts.gpuOutputs ? { gpuOutputs: opts.gpuOutputs } : {}),
    source: `generation model refit (weights version ${opts.version ?? '?'})`,
  });
}

/**
 * Refits a generation `Decoder` (policy or draft): opens a new decoder over the new weights
 * (graph + weights serialised in memory, no disk), then releases `previous`. The weights are
 * copied into the new session, so later optimiser steps do not leak into it. The caller swaps
 * the returned decoder in between rollouts (caches of the old decoder are not reusable).
 */
export async function refitDecoder(
  previous: Decoder | undefined,
  model: { readonly config: LlamaConfig; readonly weights: WeightMap; readonly name?: string },
  device: Device,
): Promise<Decoder> {
  const next = await loadDecoder({ config: model.config, weights: model.weights, name: model.name ?? 'refit' }, { device });
  await previous?.release();
  return next;
}
