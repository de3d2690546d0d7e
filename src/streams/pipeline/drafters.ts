import { resolve } from 'node:path';
import type { Decoder, Device } from '../../gpu/runtime/Decoder.js';
import { loadDecoder, assertSameVocabulary, readBuilderModel, type InMemoryModel } from '../../gpu/runtime/loadDecoder.js';
import { ModelDrafter } from '../../gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../gpu/speculative/ngramDrafter.js';
import { ReuseDrafter } from '../../gpu/speculative/reuseDrafter.js';
import type { Drafter } from '../../gpu/speculative/drafter.js';
import { jointRoundsApply } from '../../gpu/runtime/roundDecoder.js';
import type { RunConfig } from './runConfig.js';

/** A run's drafter and, for the `model` drafter, the draft decoder to release at the end. */
export interface LoadedDrafter {
  readonly drafter: Drafter | null;
  readonly draftDecoder: Decoder | undefined;
  /**
   * Set where the run may use joint rounds (`speculative.jointRounds`: a draft model built from
   * config.json + model.safetensors, a fixed k, greedy drafts, a CPU): the draft's config and
   * weights, for the joint session the generator opens with its current policy.
   */
  readonly joint?: { readonly draft: InMemoryModel; readonly greedyDrafts: boolean };
}

/**
 * Builds the drafter a run's config names (`speculative.drafter`), the same way in the
 * in-process run loop and in a generation worker.
 *
 * 1. `model`: loads `model.draft` on `device` (one intra-op thread on CPU: a spinning draft
 *    thread pool slows the target's next forward, docs/speculative-decoding.md) and checks it
 *    shares the target's vocabulary. Greedy drafts run k steps in one session run when the
 *    draft is built from config.json + model.safetensors (`multiStepDraft`); with a fixed k on
 *    a CPU the result also carries what joint rounds need (`LoadedDrafter.joint`).
 * 2. `ngram` / `reuse`: drafters without a model. `none`: null (plain decoding).
 */
export async function loadRunDrafter(config: RunConfig, device: Device, target: Decoder): Promise<LoadedDrafter> {
  switch (config.speculative.drafter) {
    case 'model': {
      // k draft steps in one session run: for greedy drafts only (temperature 0, or
      // speculative.greedyDrafts); otherwise the extra sessions would hold the weights for nothing.
      const greedyDrafts = config.speculative.greedyDrafts;
      const multiStepDraft = greedyDrafts || config.sampling.temperature === 0;
      const draftDecoder = await loadDecoder(resolve(config.model.draft), { device, multiStepDraft, ...(device === 'cpu' ? { intraOpNumThreads: 1 } : {}) });
      assertSameVocabulary(target, draftDecoder);
      const { k, jointRounds } = config.speculative;
      const draft = jointRounds && jointRoundsApply(k, multiStepDraft, device) ? await readBuilderModel(resolve(config.model.draft)) : undefined;
      return { drafter: new ModelDrafter(draftDecoder, undefined, undefined, { greedyDrafts }), draftDecoder, ...(draft ? { joint: { draft, greedyDrafts } } : {}) };
    }
    case 'ngram':
      return { drafter: new NgramDrafter(), draftDecoder: undefined };
    case 'reuse':
      return { drafter: new ReuseDrafter(), draftDecoder: undefined };
    case 'none':
      return { drafter: null, draftDecoder: undefined };
  }
}
