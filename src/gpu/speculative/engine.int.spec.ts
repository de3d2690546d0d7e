import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingParams } from '../../events/index.js';
import type { Decoder } from '../runtime/Decoder.js';
import type { RoundDecoder } from '../runtime/roundDecoder.js';
import { generate } from '../sampling/generate.js';
import { Xoshiro128 } from '../sampling/rng.js';
import { processedProbs } from '../sampling/sample.js';
import { logSoftmaxAt } from '../sampling/processors.js';
import { acceptStochastic, type AcceptanceRule } from './acceptance.js';
import { AdaptiveK, type LeadContext } from './adaptiveK.js';
import { chiSquareTest } from './chiSquare.js';
import type { Drafter } from './drafter.js';
import { SpeculativeEngine, type CompletedSequence, type EngineRequest } from './engine.js';
import { ModelDrafter } from './modelDrafter.js';
import { NgramDrafter } from './ngramDrafter.js';
import { ReuseDrafter } from './reuseDrafter.js';
import { fullSequenceLogits, tinyDecoder, tinyTargetAndDraft, type TinyModels } from './testModels.js';

const V = 12;
const EOS = 2;
let models: TinyModels;
let target: Decoder;
let draft: Decoder;
let multiDraft: Decoder;
let rounds: RoundDecoder;

beforeAll(async () => {
  models = await tinyTargetAndDraft({ vocab: V, seed: 7, eos: EOS });
  ({ target, draft, multiDraft, rounds } = models);
});
afterAll(() => models.release());

const greedy = (maxNewTokens: number, seed = 0): SamplingParams => ({ temperature: 0, topK: 0, topP: 1, maxNewTokens, seed, stopTokenIds: [], stopStrings: [] });
const sampled = (maxNewTokens: number, seed: number): SamplingParams => ({ temperature: 0.8, topK: 6, topP: 0.9, maxNewTokens, seed, stopTokenIds: [], stopStrings: [] });
const req = (id: string, prompt: number[], sampling: SamplingParams, promptId = `p-${prompt.join('.')}`): EngineRequest => ({
  requestId: id, promptId, groupIndex: 0, promptTokenIds: prompt, sampling,
});

// Prompts with repeats (so n-gram lookup finds matches) and of different lengths.
const PROMPTS = [[1, 5, 6, 7, 5, 6], [3], [4, 4, 9, 10, 4, 4, 9], [11, 8], [6, 7, 6, 7, 6], [9, 3, 1]];
const LENGTHS = [12, 7, 10, 5, 9, 11];

async function runEngine(drafter: Drafter | null, k: number | 'auto', requests: EngineRequest[], maxBatchSize: number, rule?: AcceptanceRule) {
  const engine = new SpeculativeEngine({ target, drafter, k, maxBatchSize, ...(rule ? { rule } : {}) });
  for (const r of requests) engine.add(r);
  const done = await engine.runToCompletion();
  const counters = engine.counters;
  await engine.dispose();
  return { byId: new Map(done.map((c) => [c.requestId, c])), counters };
}

/** A reuse drafter primed with rollouts of a different policy (the draft model's greedy output). */
async function primedReuse(): Promise<ReuseDrafter> {
  const reuse = new ReuseDrafter();
  const old = await generate(draft, { prompts: PROMPTS, params: { temperature: 0 }, maxNewTokens: 12, seed: 0 });
  old.forEach((o, i) => reuse.observe({
    id: `old${i}`, type: 'RolloutCompleted', version: 1, runId: 'r', step: 0, source: 's', seq: i, time: 0,
    data: { requestId: `old${i}`, promptId: `p-${PROMPTS[i]!.join('.')}`, groupIndex: 0, tokenIds: o.tokenIds, logprobs: o.logprobs, finishReason: 'length', weightsVersion: 0 },
  }));
  return reuse;
}

const drafters: Array<[string, () => Promise<Drafter>]> = [
  ['model', async () => new ModelDrafter(draft)],
  ['model (multi-step graph)', async () => new ModelDrafter(multiDraft)],
  // greedy rows: draft and verify in one session run (the sampled rows of the logprob and
  // batch-invariance tests fall back to `propose`)
  ['model (joint round graph)', async () => new ModelDrafter(multiDraft, undefined, undefined, { rounds })],
  ['ngram', async () => new NgramDrafter()],
  ['reuse', primedReuse],
];

describe('greedy speculative decoding equals plain greedy decoding', () => {
  let plain: Array<{ tokenIds: number[]; logprobs: number[] }>;
  beforeAll(async () => {
    plain = [];
    for (let i = 0; i < PROMPTS.length; i++) {
      const [r] = await generate(target, { prompts: [PROMPTS[i]!], params: { temperature: 0 }, maxNewTokens: LENGTHS[i]!, seed: 0 });
      plain.push(r!);
    }
  });

  for (const [name, make] of drafters) {
    for (const k of [3, 'auto'] as const) {
      it(`${name} drafter, k = ${k}: batch 1 and a mixed, continuously batched batch`, async () => {
        for (const maxBatchSize of [1, 4]) {
          const requests = PROMPTS.map((p, i) => req(`r${i}`, p, greedy(LENGTHS[i]!)));
          const { byId, counters } = await runEngine(await make(), k, requests, maxBatchSize);
          PROMPTS.forEach((_, i) => {
            const got = byId.get(`r${i}`)!;
            expect(got.tokenIds, `prompt ${i}, batch ${maxBatchSize}`).toEqual(plain[i]!.tokenIds);
            got.logprobs.forEach((lp, j) => expect(Math.abs(lp - plain[i]!.logprobs[j]!)).toBeLessThan(1e-5));
          });
          if (k === 3) expect(counters.numDraftTokens).toBeGreaterThan(0);
          expect(counters.numAcceptedTokens).toBeLessThanOrEqual(counters.numDraftTokens);
        }
      });
    }
  }

  it('no drafter, k = 0 (the engine as a plain decoder)', async () => {
    const requests = PROMPTS.map((p, i) => req(`r${i}`, p, greedy(LENGTHS[i]!)));
    const { byId, counters } = await runEngine(null, 0, requests, 4);
    PROMPTS.forEach((_, i) => expect(byId.get(`r${i}`)!.tokenIds).toEqual(plain[i]!.tokenIds));
    expect(counters.numDrafts).toBe(0);
  });

  it('stops at EOS and keeps it, like plain decoding', () => {
    expect(plain.some((p) => p.tokenIds.includes(EOS))).toBe(true); // the fixture exercises EOS
  });
});

describe('logprobs equal a plain full-sequence forward under the same sampling settings', () => {
  for (const [name, make] of drafters) {
    it(`${name} drafter, temperature 0.8 / top-k 6 / top-p 0.9 and greedy`, async () => {
      const requests = PROMPTS.flatMap((p, i) => [req(`s${i}`, p, sampled(LENGTHS[i]!, 100 + i)), req(`g${i}`, p, greedy(LENGTHS[i]!))]);
      const { byId } = await runEngine(await make(), 3, requests, 5);
      let checked = 0;
      for (const r of requests) {
        const c = byId.get(r.requestId)!;
        const logits = await fullSequenceLogits(target, [...r.promptTokenIds, ...c.tokenIds]);
        const L = r.promptTokenIds.length;
        c.tokenIds.forEach((t, j) => {
          const row = logits.subarray((L - 1 + j) * V, (L + j) * V);
          const ref = r.sampling.temperature === 0 ? logSoftmaxAt(row, t) : Math.log(processedProbs(row, r.sampling)[t]!);
          if (r.sampling.temperature === 0) expect(c.logprobs[j]).not.toBe(0); // raw log-softmax is never 0
          expect(Math.abs(c.logprobs[j]! - ref)).toBeLessThan(1e-5);
          checked++;
        });
      }
      expect(checked).toBeGreaterThan(50);
    });
  }
});

describe('batch invariance: a sequence does not depend on what else is in the batch', () => {
  for (const [name, make] of drafters) {
    it(`${name} drafter, greedy and stochastic with per-sequence seeds`, async () => {
      const probe = [req('x-greedy', PROMPTS[0]!, greedy(12)), req('x-sampled', PROMPTS[2]!, sampled(10, 42))];
      const others = PROMPTS.map((p, i) => req(`o${i}`, p, sampled(LENGTHS[i]!, 7 + i)));
      const alone = await runEngine(await make(), 3, probe, 1);
      // Others first, the probes join mid-flight through continuous batching.
      const mixed = await runEngine(await make(), 3, [...others.slice(0, 4), ...probe, ...others.slice(4)], 3);
      for (const p of probe) {
        const a = alone.byId.get(p.requestId)!;
        const m = mixed.byId.get(p.requestId)!;
        expect(m.tokenIds).toEqual(a.tokenIds);
        m.logprobs.forEach((lp, j) => expect(Math.abs(lp - a.logprobs[j]!)).toBeLessThan(1e-5));
      }
    });
  }
});

describe('adaptive k shared across engines (a training run\'s steps)', () => {
  it('a second engine goes on from the first one\'s measurements, still lossless', async () => {
    const ak = new AdaptiveK({ kMax: 4 });
    let tick = 0;
    const reuse = await primedReuse();
    // Drafts that are the target's own greedy output: every draft accepted, so k > 0 wins.
    const own = await generate(target, { prompts: PROMPTS, params: { temperature: 0 }, maxNewTokens: 12, seed: 0 });
    own.forEach((o, i) => reuse.observe({
      id: `own${i}`, type: 'RolloutCompleted', version: 1, runId: 'r', step: 0, source: 's', seq: i, time: 0,
      data: { requestId: `own${i}`, promptId: `p-${PROMPTS[i]!.join('.')}`, groupIndex: 0, tokenIds: o.tokenIds, logprobs: o.logprobs, finishReason: 'length', weightsVersion: 0 },
    }));
    const run = async () => {
      const ks: number[] = [];
      // A deterministic clock (every reading 1 ms later): a round costs the same at any k, so
      // the decisions do not depend on how busy the machine is.
      const engine = new SpeculativeEngine({ target, drafter: reuse, k: 'auto', adaptiveK: ak, maxBatchSize: 1, onRound: (r) => ks.push(r.k), clock: () => (tick += 0.001) });
      PROMPTS.forEach((p, i) => engine.add(req(`r${i}`, p, greedy(12))));
      const done = await engine.runToCompletion();
      await engine.dispose();
      return { ks, done };
    };
    const first = await run();
    const elapsed = ak.elapsedSeconds;
    expect(first.ks.slice(0, 2)).toEqual([0, 0]); // a fresh bucket measures plain decoding first
    expect(ak.bestK(1)).toBeGreaterThan(0);
    expect(ak.plainRate(1)).toBeDefined(); // so the next engine needs no measuring rounds
    const second = await run();
    expect(ak.elapsedSeconds).toBeGreaterThan(elapsed); // one state, two engines
    expect(second.ks.filter((k) => k > 0).length).toBeGreaterThan(second.ks.length / 2);
    const plain = await generate(target, { prompts: PROMPTS, params: { temperature: 0 }, maxNewTokens: 12, seed: 0 });
    for (const d of second.done) expect(d.tokenIds).toEqual(plain[Number(d.requestId.slice(1))]!.tokenIds);
  });
});

describe('measured cost curves (AdaptiveK.curveRate)', () => {
  it('ModelDrafter.measureCost times real proposals per k; an adaptive engine prices k from the curves at one row and at its batch', async () => {
    for (const d of [draft, multiDraft]) {
      const cost = await new ModelDrafter(d).measureCost(3, 4);
      expect(cost).toHaveLength(5);
      expect(cost[0]).toBe(0);
      for (const c of cost.slice(1)) expect(c).toBeGreaterThan(0);
    }
    const observed: Array<[string, number, readonly number[]]> = [];
    class Recording extends AdaptiveK {
      override observeVerifyCurve(b: number, curve: readonly number[]): void {
        observed.push(['verify', b, curve]);
        super.observeVerifyCurve(b, curve);
      }
      override observeDraftCurve(b: number, curve: readonly number[]): void {
        observed.push(['draft', b, curve]);
        super.observeDraftCurve(b, curve);
      }
    }
    const ak = new Recording({ kMax: 3 });
    const engine = new SpeculativeEngine({ target, drafter: new ModelDrafter(draft), k: 'auto', adaptiveK: ak, maxBatchSize: 4 });
    PROMPTS.forEach((p, i) => engine.add(req(`c${i}`, p, greedy(LENGTHS[i]!))));
    await engine.runToCompletion();
    await engine.dispose();
    expect(observed.map(([kind, b, curve]) => [kind, b, curve.length])).toEqual([['verify', 1, 4], ['draft', 1, 4], ['verify', 4, 4], ['draft', 4, 4]]);
    const verify1 = observed[0]![2];
    expect(verify1[0]).toBe(1); // in one-position forwards
    // priced from the curves at the engine's batch (its first rounds there are plain ones) …
    expect(ak.curveRate(4, 2)).toBeGreaterThan(0);
    // … and at one row once a plain round's cost is known there (the wave's last two rows may
    // finish in the same round, so the engine need not have run one row alone)
    for (let r = 0; r < 2; r++) ak.observeRound({ batchSize: 1, k: 0, tokensPerRow: 1, seconds: 0.01 });
    expect(ak.curveRate(1, 2)).toBeGreaterThan(0);
    // a stateless drafter without measureCost, not free: no curves, no curve rates
    const none = new AdaptiveK({ kMax: 3 });
    const custom: Drafter = { name: 'custom', propose: async (seqs) => seqs.map(() => ({ tokens: [], q: null })) };
    const other = new SpeculativeEngine({ target, drafter: custom, k: 'auto', adaptiveK: none, maxBatchSize: 2 });
    PROMPTS.forEach((p, i) => other.add(req(`n${i}`, p, greedy(LENGTHS[i]!))));
    await other.runToCompletion();
    await other.dispose();
    expect(none.curveRate(1, 2)).toBeUndefined();
  });
});

describe('shadow drafts (a free drafter while adaptive k runs k = 0)', () => {
  /** Adaptive k that never speculates, recording the shadow observations it is given. */
  class PlainOnly extends AdaptiveK {
    readonly shadows: Array<[number, number]> = [];
    override choose(): number {
      return 0;
    }
    override observeShadow(k: number, accepted: number): void {
      this.shadows.push([k, accepted]);
      super.observeShadow(k, accepted);
    }
  }

  /**
   * The observations a shadow-drafting engine must make for one finished greedy sequence,
   * rebuilt offline from its tokens: a proposal at every round that has none pending (the first
   * round comes after the admission's token), judged against the tokens plain decoding went on to
   * emit; it ends at the first mismatch, or after the bonus token once all matched; one cut off
   * by the sequence's end is dropped; an empty proposal is kMax rejections at once.
   */
  function expectedShadows(drafter: NgramDrafter, prompt: readonly number[], out: readonly number[], maxNew: number, kMax: number): Array<[number, number]> {
    const obs: Array<[number, number]> = [];
    let pos = 1;
    while (pos < out.length) {
      const proposal = drafter.proposeOne([...prompt, ...out.slice(0, pos)], kMax).slice(0, Math.min(kMax, maxNew - pos - 1));
      if (proposal.length === 0) {
        obs.push([kMax, 0]);
        pos++;
        continue;
      }
      let matched = 0;
      for (;;) {
        const token = out[pos++]!;
        if (pos === out.length) break; // the row finished: dropped
        if (matched < proposal.length && token === proposal[matched]) matched++;
        else {
          obs.push([kMax, matched]);
          break;
        }
      }
    }
    return obs;
  }

  it('n-gram: the observations equal those rebuilt from the output; the output and counters are plain decoding\'s', async () => {
    const ak = new PlainOnly({ kMax: 3 });
    const prompts = [[1, 5, 6, 7, 5, 6, 7, 5, 6]];
    const engine = new SpeculativeEngine({ target, drafter: new NgramDrafter(), k: 'auto', adaptiveK: ak, maxBatchSize: 1 });
    engine.add(req('r0', prompts[0]!, greedy(24)));
    const [done] = await engine.runToCompletion();
    await engine.dispose();
    const plain = await generate(target, { prompts, params: { temperature: 0 }, maxNewTokens: 24, seed: 0 });
    expect(done!.tokenIds).toEqual(plain[0]!.tokenIds);
    expect(engine.counters.numDrafts).toBe(0); // shadows are no drafts: no DraftVerified counts them
    expect(ak.shadows).toEqual(expectedShadows(new NgramDrafter(), prompts[0]!, done!.tokenIds, 24, 3));
    expect(ak.shadows.length).toBeGreaterThan(2);
  });

  it('a batch of rows, each observed as if alone; a drafter with a model is never asked at k = 0', async () => {
    const ak = new PlainOnly({ kMax: 2 });
    const engine = new SpeculativeEngine({ target, drafter: new NgramDrafter(), k: 'auto', adaptiveK: ak, maxBatchSize: 3 });
    PROMPTS.forEach((p, i) => engine.add(req(`r${i}`, p, greedy(LENGTHS[i]!))));
    const done = await engine.runToCompletion();
    await engine.dispose();
    const expected = done.flatMap((d) => expectedShadows(new NgramDrafter(), PROMPTS[Number(d.requestId.slice(1))]!, d.tokenIds, LENGTHS[Number(d.requestId.slice(1))]!, 2));
    const count = (xs: Array<[number, number]>) => [0, 1, 2].map((a) => xs.filter(([, x]) => x === a).length);
    expect(count(ak.shadows)).toEqual(count(expected)); // interleaved across rows: compare the tallies
    let asked = 0;
    class AskedModel extends ModelDrafter {
      override propose(...args: Parameters<ModelDrafter['propose']>) {
        asked++;
        return super.propose(...args);
      }
    }
    const spy = new AskedModel(draft);
    const plainOnly = new PlainOnly({ kMax: 2 });
    const e2 = new SpeculativeEngine({ target, drafter: spy, k: 'auto', adaptiveK: plainOnly, maxBatchSize: 3 });
    PROMPTS.forEach((p, i) => e2.add(req(`r${i}`, p, greedy(LENGTHS[i]!))));
    await e2.runToCompletion();
    await e2.dispose();
    expect(asked).toBe(0);
    expect(plainOnly.shadows).toEqual([]);
  });

  it('sampling (temperature 1): shadow acceptance has the rate real k = 1 rounds measure (two-proportion z-test)', async () => {
    // Both are the same process in distribution: a point-mass draft is accepted with the chance
    // p(x) that plain sampling emits x. 160 sequences of 16 tokens per side, ngram drafts.
    class Fixed extends AdaptiveK {
      readonly obs: number[] = [0, 0];
      constructor(private readonly k: number) {
        super({ kMax: 1 });
      }
      override choose(): number {
        return this.k;
      }
      override observeAcceptance(k: number, accepted: number): void {
        if (k === 1) {
          this.obs[0]! += accepted;
          this.obs[1]!++;
        }
        super.observeAcceptance(k, accepted);
      }
    }
    const rate = async (k: number) => {
      const ak = new Fixed(k);
      const engine = new SpeculativeEngine({ target, drafter: new NgramDrafter({ maxN: 2 }), k: 'auto', adaptiveK: ak, maxBatchSize: 32 });
      for (let i = 0; i < 160; i++) engine.add(req(`r${i}`, PROMPTS[i % PROMPTS.length]!, { ...sampled(16, 5000 + i), topK: 0, topP: 1, temperature: 1 }));
      await engine.runToCompletion();
      await engine.dispose();
      return ak.obs as [number, number];
    };
    const [a1, n1] = await rate(0);
    const [a2, n2] = await rate(1);
    const p = (a1 + a2) / (n1 + n2);
    const z = (a1 / n1 - a2 / n2) / Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
    expect(n1).toBeGreaterThan(300);
    expect(n2).toBeGreaterThan(300);
    expect(p).toBeGreaterThan(0.05); // drafts do get accepted: the test has power
    expect(Math.abs(z), `shadow ${a1}/${n1} vs real ${a2}/${n2}`).toBeLessThan(3.5);
  });
});

describe('continuous batching', () => {
  it('admits waiting requests once minJoin rows are free (or all that wait fit); the output is plain decoding\'s', async () => {
    const lengths = [3, 4, 5, 9, 12, 6, 7, 8, 10];
    const requests = lengths.map((n, i) => req(`r${i}`, PROMPTS[i % PROMPTS.length]!, greedy(n)));
    const joins: Array<[number, number]> = []; // [joiners, rows verified]
    const engine = new SpeculativeEngine({ target, drafter: null, k: 0, maxBatchSize: 4, minJoin: 3, onRound: (r) => { if (r.joiners > 0) joins.push([r.joiners, r.batchSize]); } });
    requests.forEach((r) => engine.add(r));
    const done = await engine.runToCompletion();
    await engine.dispose();
    // 4 at once; then 3 when 3 rows were free; then the 2 left, which fit once 2 rows are free
    expect(joins.map(([j]) => j)).toEqual([4, 3, 2]);
    for (const d of done) {
      const i = Number(d.requestId.slice(1));
      const [plain] = await generate(target, { prompts: [PROMPTS[i % PROMPTS.length]!], params: { temperature: 0 }, maxNewTokens: lengths[i]!, seed: 0 });
      expect(d.tokenIds).toEqual(plain!.tokenIds);
    }
    expect(() => new SpeculativeEngine({ target, drafter: null, k: 0, maxBatchSize: 4, minJoin: 5 })).toThrow(/minJoin must be an integer in \[1, maxBatchSize = 4\], received 5/);
  });

  it('drops the holes speculation left when it switches back to k = 0 and the rounds ahead would carry them', async () => {
    // k = 2 in the second round only, with a draft the target rejects; plain rounds after it
    class Scripted extends AdaptiveK {
      private n = 0;
      override choose(): number {
        return this.n++ === 1 ? 2 : 0;
      }
    }
    const wrong: Drafter = { name: 'wrong', propose: async (seqs) => seqs.map(() => ({ tokens: [V - 1, V - 1], q: null })) };
    const prompt = PROMPTS[0]!;
    const trace: Array<{ k: number; past: number; emitted: number }> = [];
    const engine = new SpeculativeEngine({ target, drafter: wrong, k: 'auto', adaptiveK: new Scripted({ kMax: 2 }), maxBatchSize: 1, onRound: (r) => trace.push({ k: r.k, past: r.pastLength, emitted: r.emitted }) });
    engine.add(req('h', prompt, greedy(20)));
    const [done] = await engine.runToCompletion();
    await engine.dispose();
    let generated = 1; // the prefill's token
    const holes = trace.map((r) => {
      generated += r.emitted;
      return r.past - (prompt.length + generated - 1); // slots that hold no valid token
    });
    expect(trace.map((r) => r.k).slice(0, 3)).toEqual([0, 2, 0]);
    expect(holes[1]).toBeGreaterThan(0); // the rejected drafts
    expect(holes.slice(2, -1)).toEqual(Array(holes.length - 3).fill(0)); // (the last round empties the cache)
    const [plain] = await generate(target, { prompts: [prompt], params: { temperature: 0 }, maxNewTokens: 20, seed: 0 });
    expect(done!.tokenIds).toEqual(plain!.tokenIds);
  });

  it('adaptive k is told the rows\' lengths and what they may still generate, and the lead each speculative round left', async () => {
    // k = 2 in every round but the first (plain, for the reference); the draft is the target's
    // own continuation for the first row only, so it runs ahead of the second.
    const seen: Array<{ lengths: readonly number[]; remaining: readonly number[] }> = [];
    const leads: Array<{ slots: number; slotRounds: number }> = [];
    class Recording extends AdaptiveK {
      override choose(_batchSize: number, _catchUp = 0, lead?: LeadContext): number {
        if (lead) seen.push({ lengths: [...lead.lengths], remaining: [...lead.remaining] });
        return seen.length === 1 ? 0 : 2;
      }
      override observeRound(m: Parameters<AdaptiveK['observeRound']>[0]): void {
        if (m.lead) leads.push({ ...m.lead });
        super.observeRound(m);
      }
    }
    const prompts = [PROMPTS[0]!, PROMPTS[2]!];
    const plain = await generate(target, { prompts, params: { temperature: 0 }, maxNewTokens: 12, seed: 0 });
    const ahead: Drafter = {
      name: 'ahead',
      propose: async (seqs, k) => seqs.map((s) => (s.id === 'a' ? { tokens: plain[0]!.tokenIds.slice(s.tokens.length - s.promptLength, s.tokens.length - s.promptLength + k), q: null } : { tokens: [V - 1, V - 1], q: null })),
    };
    const engine = new SpeculativeEngine({ target, drafter: ahead, k: 'auto', adaptiveK: new Recording({ kMax: 2 }), maxBatchSize: 2 });
    engine.add(req('a', prompts[0]!, greedy(12)));
    engine.add(req('b', prompts[1]!, greedy(12)));
    const done = await engine.runToCompletion();
    await engine.dispose();
    // Round 1 (plain) sees both rows after their prefill token; round 2 one round later.
    expect(seen[0]).toEqual({ lengths: [prompts[0]!.length + 1, prompts[1]!.length + 1], remaining: [11, 11] });
    expect(seen[1]).toEqual({ lengths: [prompts[0]!.length + 2, prompts[1]!.length + 2], remaining: [10, 10] });
    // The first speculative round: row a emits 3 (2 accepted + bonus), row b 1; the longest row
    // was b (7 + 2 = 9 tokens against 6 + 2 = 8): the cache grows to a's 11, the batch by 2 on
    // average — no lead while both run (a has 7 tokens left); then b runs alone for 2 rounds,
    // 1 token further than before against the batch's 2: a credit of 1 slot each (`cacheLead`).
    expect(leads[0]).toEqual({ slots: 11 - 9 - 2, slotRounds: 7 * (11 - 9 - 2) + 2 * (10 - 9 - 2) });
    expect(done.find((d) => d.requestId === 'a')!.tokenIds).toEqual(plain[0]!.tokenIds);
  });

  it('joint rounds (fixed k): each speculative round of greedy rows is one session run, its k opened at attach; sampled rows and adaptive k draft apart', async () => {
    const prepared: number[][] = [];
    let runs = 0;
    const counting: RoundDecoder = {
      target: rounds.target,
      draft: rounds.draft,
      prepare: (ks) => (prepared.push([...ks]), rounds.prepare(ks)),
      round: (k, t, d) => (runs++, rounds.round(k, t, d)),
      release: () => Promise.resolve(),
    };
    const requests = PROMPTS.map((p, i) => req(`r${i}`, p, greedy(LENGTHS[i]!)));
    const engine = new SpeculativeEngine({ target, drafter: new ModelDrafter(multiDraft, undefined, undefined, { rounds: counting }), k: 3, maxBatchSize: 4 });
    for (const r of requests) engine.add(r);
    const done = await engine.runToCompletion();
    expect(prepared).toEqual([[3]]);
    expect(runs).toBe(engine.timings.kCounts[3]);
    expect(runs).toBeGreaterThan(0);
    for (const d of done) {
      const i = Number(d.requestId.slice(1));
      const [plain] = await generate(target, { prompts: [PROMPTS[i]!], params: { temperature: 0 }, maxNewTokens: LENGTHS[i]!, seed: 0 });
      expect(d.tokenIds).toEqual(plain!.tokenIds);
    }
    await engine.dispose();
    // Sampled rows with drafts sampled from q: the joint graph's drafts are argmaxes, so no joint run.
    runs = 0;
    const sampledEngine = new SpeculativeEngine({ target, drafter: new ModelDrafter(multiDraft, undefined, undefined, { rounds: counting }), k: 2, maxBatchSize: 2 });
    sampledEngine.add(req('s', PROMPTS[0]!, sampled(8, 3)));
    const [s] = await sampledEngine.runToCompletion();
    await sampledEngine.dispose();
    expect(s!.tokenIds).toHaveLength(8);
    expect(runs).toBe(0);
    expect(sampledEngine.counters.numDraftTokens).toBeGreaterThan(0);
    // Adaptive k: no joint rounds (a session per k), no sessions opened.
    const adaptive = new SpeculativeEngine({ target, drafter: new ModelDrafter(multiDraft, undefined, undefined, { rounds: counting }), k: 'auto', kMax: 3, maxBatchSize: 2 });
    adaptive.add(req('a', PROMPTS[0]!, greedy(10)));
    await adaptive.runToCompletion();
    await adaptive.dispose();
    expect(runs).toBe(0);
    expect(prepared).toEqual([[3], [2]]);
  });

  it('a draft model warms up its k-step sessions at attach, once per decoder, batch size and kMax', async () => {
    const calls: Array<[number, number]> = []; // [rows, k]
    const counting: Decoder = Object.create(multiDraft);
    counting.greedyDraft = (input, k, cache) => {
      calls.push([input.inputIds.length, k]);
      return multiDraft.greedyDraft!(input, k, cache);
    };
    await new ModelDrafter(counting).attach({ vocabSize: V, name: 't', kMax: 3, maxBatchSize: 4 });
    expect(calls).toEqual([[4, 1], [4, 2], [4, 3]]);
    await new ModelDrafter(counting).attach({ vocabSize: V, name: 't', kMax: 3, maxBatchSize: 2 }); // covered
    expect(calls.length).toBe(3);
    await new ModelDrafter(counting).attach({ vocabSize: V, name: 't', kMax: 3, maxBatchSize: 8 });
    expect(calls.slice(3)).toEqual([[8, 1], [8, 2], [8, 3]]);
    await new ModelDrafter(counting).attach({ vocabSize: V, name: 't', kMax: 4, maxBatchSize: 8 }); // a longer draft
    expect(calls.slice(6)).toEqual([[8, 1], [8, 2], [8, 3], [8, 4]]);
  });

  it('adaptive k: a stateful drafter takes joiners in at admission while adaptive k wants its state, and then has nothing to catch up', async () => {
    // Adaptive k that speculates (k = 1) from the second round on and wants the drafter's state
    // only as scripted; it records the catch-up the engine tells it.
    class Recording extends AdaptiveK {
      readonly catchUps: number[] = [];
      private n = 0;
      constructor(private readonly wants: boolean) {
        super({ kMax: 2 });
      }
      override wantsDraftState(): boolean {
        return this.wants;
      }
      override choose(_batch: number, catchUp = 0): number {
        this.catchUps.push(catchUp);
        return this.n++ === 0 ? 0 : 1;
      }
    }
    for (const wants of [true, false]) {
      const prepared: string[][] = [];
      const model = new ModelDrafter(draft);
      const drafter: Drafter = {
        name: 'recording',
        attach: (t) => model.attach(t),
        prepare: async (seqs) => {
          prepared.push(seqs.map((q) => q.id));
          await model.prepare(seqs);
        },
        propose: (seqs, k) => model.propose(seqs, k),
        dispose: () => model.dispose(),
      };
      const ak = new Recording(wants);
      const engine = new SpeculativeEngine({ target, drafter, k: 'auto', adaptiveK: ak, maxBatchSize: 2 });
      engine.add(req('a', PROMPTS[0]!, greedy(6)));
      engine.add(req('b', PROMPTS[2]!, greedy(6)));
      const done = await engine.runToCompletion();
      await engine.dispose();
      expect(prepared.slice(0, 1)).toEqual(wants ? [['a', 'b']] : []);
      // the first speculative round (the second round): prefilled rows missed 1 token (the first
      // round's), rows left to catch up lazily missed their prompt as well
      expect(ak.catchUps[1]).toBe(wants ? 1 : (PROMPTS[0]!.length + PROMPTS[2]!.length) / 2 + 2);
      for (const d of done) {
        const [plain] = await generate(target, { prompts: [d.requestId === 'a' ? PROMPTS[0]! : PROMPTS[2]!], params: { temperature: 0 }, maxNewTokens: 6, seed: 0 });
        expect(d.tokenIds).toEqual(plain!.tokenIds);
      }
    }
  });

  it('a draft model frees the rows of finished sequences: at once when none of its rows still runs, else at its next draft', async () => {
    // Adaptive k that wants the drafter's state (a prefill at admission) and never speculates:
    // the prefilled rows are never drafted from, and go once their sequences are done.
    class PrefillOnly extends AdaptiveK {
      override wantsDraftState(): boolean {
        return true;
      }
      override choose(): number {
        return 0;
      }
    }
    const model = new ModelDrafter(draft);
    const held: number[] = [];
    const engine = new SpeculativeEngine({ target, drafter: model, k: 'auto', adaptiveK: new PrefillOnly({ kMax: 2 }), maxBatchSize: 2, onRound: () => held.push(model.rows) });
    engine.add(req('a', PROMPTS[0]!, greedy(3)));
    engine.add(req('b', PROMPTS[2]!, greedy(6)));
    await engine.runToCompletion();
    expect(held[0]).toBe(2); // both prefilled at admission
    expect(model.rows).toBe(0); // both finished: the cache is gone before the engine is disposed
    await engine.dispose();
    // With a row still running, a finished one waits for the next draft (one gather for all).
    const lazy = new ModelDrafter(draft);
    const seq = (id: string, tokens: number[]) => ({ id, promptId: id, groupIndex: 0, tokens, promptLength: tokens.length, sampling: greedy(4), rng: new Xoshiro128(1) });
    await lazy.attach({ vocabSize: V, name: 'target', kMax: 1, maxBatchSize: 2 });
    await lazy.prepare([seq('x', PROMPTS[0]!), seq('y', PROMPTS[2]!)]);
    await lazy.release('x');
    expect(lazy.rows).toBe(2);
    await lazy.propose([seq('y', PROMPTS[2]!)], 1);
    expect(lazy.rows).toBe(1);
    await lazy.release('y');
    expect(lazy.rows).toBe(0);
    await lazy.dispose();
  });

  it('carries finished rows in the cache (masked, fed nothing) until dropping them pays; outputs stay plain decoding\'s', async () => {
    const lengths = [3, 5, 7, 9];
    const prompts = [PROMPTS[0]!, PROMPTS[2]!, PROMPTS[3]!, PROMPTS[4]!]; // none stops early (EOS)
    for (const [drafter, k] of [[null, 0], [new NgramDrafter(), 2]] as const) {
      const rows: Array<[number, number]> = []; // [running sequences, cache rows] after each round
      const engine = new SpeculativeEngine({ target, drafter, k, maxBatchSize: 4, onRound: (r) => rows.push([r.batchSize, r.cacheRows]) });
      lengths.forEach((n, i) => engine.add(req(`d${i}`, prompts[i]!, greedy(n))));
      const done = await engine.runToCompletion();
      await engine.dispose();
      // the first drop costs a forward; a finished row of 4 pays a quarter of one per round
      expect(rows.some(([n, c]) => c > n)).toBe(true);
      expect(rows.at(-1)![1]).toBe(0); // the last departures empty the cache
      for (const d of done) {
        const i = Number(d.requestId.slice(1));
        const [plain] = await generate(target, { prompts: [prompts[i]!], params: { temperature: 0 }, maxNewTokens: lengths[i]!, seed: 0 });
        expect(d.tokenIds).toEqual(plain!.tokenIds);
        expect(d.tokenIds.length).toBe(lengths[i]);
        expect(d.logprobs.length).toBe(d.tokenIds.length);
      }
    }
  });
});

describe('counters', () => {
  it('accepted ≤ proposed and per-position counts are non-increasing in the position', async () => {
    const requests = PROMPTS.map((p, i) => req(`c${i}`, p, sampled(LENGTHS[i]!, i)));
    const { counters, byId } = await runEngine(new ModelDrafter(draft), 4, requests, 3);
    expect(counters.numDrafts).toBeGreaterThan(0);
    expect(counters.numAcceptedTokens).toBeLessThanOrEqual(counters.numDraftTokens);
    const perPos = counters.numAcceptedTokensPerPos;
    expect(perPos).toHaveLength(4);
    for (let i = 1; i < perPos.length; i++) expect(perPos[i]!).toBeLessThanOrEqual(perPos[i - 1]!);
    expect(perPos.reduce((a, b) => a + b, 0)).toBe(counters.numAcceptedTokens);
    // Per-sequence counters sum to the engine's.
    const sum = [...byId.values()].reduce((s, c: CompletedSequence) => s + c.counters.numDraftTokens, 0);
    expect(sum).toBe(counters.numDraftTokens);
  });
});

describe('draft model vocabulary', () => {
  it('refuses a draft model with another vocabulary before the first round, naming both sizes', async () => {
    const other = await tinyDecoder(V + 3, 1);
    const engine = new SpeculativeEngine({ target, drafter: new ModelDrafter(other), k: 2, maxBatchSize: 2 });
    engine.add(req('v', [1, 2], greedy(3)));
    await expect(engine.step()).rejects.toThrow(/vocab_size 15 but the target tiny-target has 12/);
    await other.release();
  });
});

// ---------------------------------------------------------------------------------------------
// Stochastic: the distribution of outputs equals plain sampling from the target.

/** Wrong on purpose: after a rejection the replacement is drawn from p, not norm(max(0, p − q)). */
const replacementFromP: AcceptanceRule = (input, chance) => {
  const r = acceptStochastic(input, chance);
  if (r.bonus) return r;
  return { ...r, tokens: [...r.tokens.slice(0, -1), chance.categorical(input.p[r.accepted]!)] };
};

describe('stochastic speculative sampling matches the target distribution (chi-square)', () => {
  // Length 4: the first token comes from the prefill, the other three from rounds with k = 2.
  const SV = 6;
  const LEN = 4;
  const N = 4000;
  const prompt = [1, 3];
  const sampling = (seed: number): SamplingParams => ({ temperature: 1, topK: 0, topP: 1, maxNewTokens: LEN, seed, stopTokenIds: [], stopStrings: [] });
  let small: TinyModels;
  let t8: Decoder;
  let d8: Decoder;
  let m8: Decoder;
  let r8: RoundDecoder;
  let exact: Map<string, number>;

  beforeAll(async () => {
    small = await tinyTargetAndDraft({ vocab: SV, seed: 3, std: 0.6 });
    ({ target: t8, draft: d8, multiDraft: m8, rounds: r8 } = small);
    // Exact target probabilities of every 3-token continuation, from plain full-sequence forwards.
    exact = new Map();
    const walk = async (prefix: number[], prob: number) => {
      if (prefix.length === LEN) {
        exact.set(prefix.join(','), prob);
        return;
      }
      const logits = await fullSequenceLogits(t8, [...prompt, ...prefix]);
      const p = processedProbs(logits.subarray((prompt.length + prefix.length - 1) * SV), { temperature: 1 });
      for (let v = 0; v < SV; v++) await walk([...prefix, v], prob * p[v]!);
    };
    await walk([], 1);
  });
  afterAll(async () => {
    await small.release();
  });

  async function pValue(drafter: () => Drafter, rule?: AcceptanceRule): Promise<{ pValue: number; accepted: number }> {
    const engine = new SpeculativeEngine({ target: t8, drafter: drafter(), k: 2, maxBatchSize: 600, ...(rule ? { rule } : {}) });
    for (let s = 0; s < N; s++) engine.add(req(`n${s}`, prompt, sampling(s), 'dist'));
    const done = await engine.runToCompletion();
    const counts = new Map<string, number>();
    for (const c of done) counts.set(c.tokenIds.join(','), (counts.get(c.tokenIds.join(',')) ?? 0) + 1);
    const accepted = engine.counters.numAcceptedTokens;
    await engine.dispose();
    return { pValue: chiSquareTest(counts, exact).pValue, accepted };
  }

  /** A point-mass drafter: rollout reuse primed with a few fixed earlier rollouts. */
  const pointMass = () => {
    const reuse = new ReuseDrafter();
    [[5, 1, 5, 3], [0, 4, 4, 1], [2, 2, 5, 0]].forEach((tokenIds, i) => reuse.observe({
      id: `e${i}`, type: 'RolloutCompleted', version: 1, runId: 'r', step: 0, source: 's', seq: i, time: 0,
      data: { requestId: `e${i}`, promptId: 'dist', groupIndex: 0, tokenIds, logprobs: [-1, -1, -1, -1], finishReason: 'length', weightsVersion: 0 },
    }));
    return reuse;
  };

  it('draft model (q from the draft): passes', async () => {
    const r = await pValue(() => new ModelDrafter(d8));
    expect(r.accepted).toBeGreaterThan(N); // speculation really happened
    expect(r.pValue).toBeGreaterThan(1e-3);
  });
  it('draft model with a deliberately wrong acceptance rule: fails the same test', async () => {
    expect((await pValue(() => new ModelDrafter(d8), replacementFromP)).pValue).toBeLessThan(1e-6);
  });
  it('draft model with greedy drafts from the multi-step graph (point masses): passes', async () => {
    const r = await pValue(() => new ModelDrafter(m8, undefined, undefined, { greedyDrafts: true }));
    expect(r.accepted).toBeGreaterThan(N / 2);
    expect(r.pValue).toBeGreaterThan(1e-3);
  });
  it('draft model with greedy drafts in joint rounds (one session run per round): passes', async () => {
    const r = await pValue(() => new ModelDrafter(m8, undefined, undefined, { greedyDrafts: true, rounds: r8 }));
    expect(r.accepted).toBeGreaterThan(N / 2);
    expect(r.pValue).toBeGreaterThan(1e-3);
  });
  it('draft model with greedy drafts in joint rounds and a deliberately wrong acceptance rule: fails the same test', async () => {
    expect((await pValue(() => new ModelDrafter(m8, undefined, undefined, { greedyDrafts: true, rounds: r8 }), replacementFromP)).pValue).toBeLessThan(1e-6);
  });
  it('point-mass drafter (rollout reuse): passes', async () => {
    const r = await pValue(pointMass);
    expect(r.accepted).toBeGreaterThan(N / 10);
    expect(r.pValue).toBeGreaterThan(1e-3);
  });
  it('point-mass drafter with a deliberately wrong acceptance rule: fails the same test', async () => {
    expect((await pValue(pointMass, replacementFromP)).pValue).toBeLessThan(1e-6);
  });
});
