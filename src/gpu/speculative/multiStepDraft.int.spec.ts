import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingParams } from '../../events/index.js';
import type { Decoder } from '../runtime/Decoder.js';
import { Xoshiro128 } from '../sampling/rng.js';
import type { DraftSequence } from './drafter.js';
import { ModelDrafter } from './modelDrafter.js';
import { testDevice, tinyTargetAndDraft, type TinyModels } from './testModels.js';

/**
 * The greedy multi-step draft graph (`Decoder.greedyDraft`, k steps in one session run) must
 * propose exactly what k single steps of the same draft model propose — round after round, with
 * rows that join, leave, and get rolled back (rejected drafts masked out of the draft cache).
 */
const V = 40;
let models: TinyModels;
let draft: Decoder;
let multiDraft: Decoder;

beforeAll(async () => {
  models = await tinyTargetAndDraft({ vocab: V, seed: 11, std: 0.8, layers: 2 });
  ({ draft, multiDraft } = models);
});
afterAll(() => models.release());

const greedy: SamplingParams = { temperature: 0, topK: 0, topP: 1, maxNewTokens: 100, seed: 0, stopTokenIds: [], stopStrings: [] };

describe(`greedy multi-step draft graph (${testDevice})`, () => {
  it('emits draft_tokens and presents with past + T + k − 1 slots', async () => {
    const out = await multiDraft.greedyDraft!({ inputIds: [[0, 3, 4], [5, 6, 7]], positionIds: [[0, 0, 1], [0, 1, 2]], attentionMask: [[0, 1, 1], [1, 1, 1]] }, 4, multiDraft.emptyCache(2));
    expect(out.tokens).toHaveLength(2);
    for (const row of out.tokens) {
      expect(row).toHaveLength(4);
      for (const t of row) expect(t >= 0 && t < V).toBe(true);
    }
    expect(out.cache.pastLength).toBe(3 + 3);
    out.cache.dispose();
    expect(draft.greedyDraft).toBeUndefined(); // loaded without multiStepDraft
  });

  it('proposes what k single steps propose, over rounds with joins, departures and rollbacks', async () => {
    const rng = new Xoshiro128(5);
    const stepwise = new ModelDrafter(draft, 8, 0.25, { multiStep: false });
    const multi = new ModelDrafter(multiDraft, 8, 0.25);
    const seqs = new Map<string, number[]>();
    let next = 0;
    const join = () => seqs.set(`s${next++}`, Array.from({ length: 1 + Math.floor(rng.next() * 6) }, () => 1 + Math.floor(rng.next() * (V - 1))));
    for (let i = 0; i < 3; i++) join();
    let compared = 0;
    for (let round = 0; round < 30; round++) {
      if (round % 7 === 3) join();
      if (round % 9 === 5 && seqs.size > 1) seqs.delete([...seqs.keys()][0]!);
      const k = 1 + Math.floor(rng.next() * 5);
      const batch: DraftSequence[] = [...seqs].map(([id, tokens]) => ({ id, promptId: id, groupIndex: 0, tokens, promptLength: 1, sampling: greedy, rng: new Xoshiro128(1) }));
      const a = await stepwise.propose(batch, k);
      const b = await multi.propose(batch, k);
      expect(b.map((d) => d.tokens), `round ${round}, k ${k}`).toEqual(a.map((d) => d.tokens));
      for (const d of b) expect(d.q).toBeNull();
      compared += a.reduce((n, d) => n + d.tokens.length, 0);
      // Verification stand-in: accept a random prefix of the draft, then a random token.
      for (const [i, s] of batch.entries()) {
        const accepted = Math.floor(rng.next() * (k + 1));
        seqs.set(s.id, [...s.tokens, ...a[i]!.tokens.slice(0, accepted), 1 + Math.floor(rng.next() * (V - 1))]);
      }
    }
    expect(compared).toBeGreaterThan(150);
    await stepwise.dispose();
    await multi.dispose();
  });
});
