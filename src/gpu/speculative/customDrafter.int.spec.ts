import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutCompleted } from '../../events/index.js';
import type { Decoder } from '../runtime/Decoder.js';
import { generate } from '../sampling/generate.js';
import type { Draft, DraftSequence, Drafter } from './drafter.js';
import { SpeculativeEngine } from './engine.js';
import { tinyTargetAndDraft, type TinyModels } from './testModels.js';

// The example drafter of docs/speculative-decoding.md, verbatim: it must work as documented.
class BigramDrafter implements Drafter {
  readonly name = 'bigram';
  private readonly next = new Map<number, Map<number, number>>(); // token → successor → count

  observe(event: RolloutCompleted): void {
    const t = event.data.tokenIds;
    for (let i = 0; i + 1 < t.length; i++) {
      const m = this.next.get(t[i]!) ?? new Map<number, number>();
      m.set(t[i + 1]!, (m.get(t[i + 1]!) ?? 0) + 1);
      this.next.set(t[i]!, m);
    }
  }

  async propose(sequences: readonly DraftSequence[], k: number): Promise<Draft[]> {
    return sequences.map((s) => {
      const tokens: number[] = [];
      let last = s.tokens[s.tokens.length - 1]!;
      while (tokens.length < k) {
        const m = this.next.get(last);
        if (!m) break;
        last = [...m.entries()].sort((a, b) => b[1] - a[1])[0]![0];
        tokens.push(last);
      }
      return { tokens, q: null }; // no probabilities: verified as a point mass
    });
  }
}

let models: TinyModels;
let target: Decoder;
beforeAll(async () => {
  models = await tinyTargetAndDraft({ vocab: 12, seed: 21 });
  ({ target } = models);
});
afterAll(() => models.release());

describe('a user-written drafter (docs example)', () => {
  it('drafts from observed rollouts, and greedy output still equals plain decoding', async () => {
    const prompt = [1, 4, 7];
    const [plain] = await generate(target, { prompts: [prompt], params: { temperature: 0 }, maxNewTokens: 16, seed: 0 });
    const drafter = new BigramDrafter();
    drafter.observe({
      id: 'x', type: 'RolloutCompleted', version: 1, runId: 'r', step: 0, source: 's', seq: 0, time: 0,
      data: { requestId: 'x', promptId: 'p', groupIndex: 0, tokenIds: plain!.tokenIds, logprobs: plain!.logprobs, finishReason: 'length', weightsVersion: 0 },
    });
    const engine = new SpeculativeEngine({ target, drafter, k: 4, maxBatchSize: 1 });
    engine.add({ requestId: 'a', promptId: 'p', groupIndex: 0, promptTokenIds: prompt, sampling: { temperature: 0, topK: 0, topP: 1, maxNewTokens: 16, seed: 0, stopTokenIds: [], stopStrings: [] } });
    const [done] = await engine.runToCompletion();
    expect(done!.tokenIds).toEqual(plain!.tokenIds);
    expect(engine.counters.numAcceptedTokens).toBeGreaterThan(0);
    await engine.dispose();
  });
});
