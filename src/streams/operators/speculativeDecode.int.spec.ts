import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subject, from, lastValueFrom, take, toArray } from 'rxjs';
import { createEventFactory, seededPrng } from '../../events/factory.js';
import { dataSchemas, type DraftVerified, type RolloutCompleted, type RolloutRequested, type SamplingParams } from '../../events/index.js';
import { foldEvents, emptyMetricsState } from '../../reducers/stepMetrics.js';
import { aggregateCounters } from '../../reducers/specDecode.js';
import type { Decoder } from '../../gpu/runtime/Decoder.js';
import type { SpecDecodeCounters } from '../../gpu/speculative/counters.js';
import { ModelDrafter } from '../../gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../gpu/speculative/ngramDrafter.js';
import { ReuseDrafter } from '../../gpu/speculative/reuseDrafter.js';
import { tinyDecoder, tinyTargetAndDraft, type TinyModels } from '../../gpu/speculative/testModels.js';
import { speculativeDecode } from './speculativeDecode.js';

let models: TinyModels;
let target: Decoder;
let draft: Decoder;
beforeAll(async () => {
  models = await tinyTargetAndDraft({ vocab: 12, seed: 11 });
  ({ target, draft } = models);
});
afterAll(() => models.release());

const sampling = (seed: number, temperature = 0.9): SamplingParams => ({ temperature, topK: 0, topP: 1, maxNewTokens: 8, seed, stopTokenIds: [], stopStrings: [] });
const factory = (source: string) => createEventFactory({ runId: 'run', source, clock: () => 1_700_000_000_000, prng: seededPrng(1) });

function requests(n: number, opts: { step?: number; group?: boolean; temperature?: number } = {}): RolloutRequested[] {
  const f = factory('driver');
  return Array.from({ length: n }, (_, i) =>
    f.make('RolloutRequested', opts.step ?? 3, {
      requestId: `req-${i}`,
      promptId: opts.group ? 'prompt-0' : `prompt-${i % 3}`,
      groupIndex: opts.group ? i : 0,
      promptTokenIds: [opts.group ? 1 : 1 + (i % 3), 5, 6, 5, 6],
      sampling: sampling(i, opts.temperature),
    }),
  );
}

describe('speculativeDecode', () => {
  it('turns RolloutRequested into valid DraftVerified … RolloutCompleted events at the request step', async () => {
    const events = await lastValueFrom(
      from(requests(7)).pipe(speculativeDecode({ target, drafter: new ModelDrafter(draft), k: 3, maxBatchSize: 3, events: factory('gen-0'), weightsVersion: 2 }), toArray()),
    );
    const completed = events.filter((e): e is RolloutCompleted => e.type === 'RolloutCompleted');
    expect(completed.map((e) => e.data.requestId).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `req-${i}`).sort());
    for (const e of events) {
      expect(e.step).toBe(3);
      expect(e.source).toBe('gen-0');
      expect(() => dataSchemas[e.type].parse(e.data)).not.toThrow();
    }
    for (const c of completed) {
      expect(c.data.tokenIds).toHaveLength(8);
      expect(c.data.weightsVersion).toBe(2);
      // Each rollout's DraftVerified events come before it and emit exactly its tokens.
      const rounds = events.filter((e): e is DraftVerified => e.type === 'DraftVerified' && e.data.requestId === c.data.requestId);
      expect(rounds.reduce((s, r) => s + r.data.emitted, 0)).toBe(c.data.tokenIds.length);
      expect(events.indexOf(rounds[rounds.length - 1]!)).toBeLessThan(events.indexOf(c));
    }
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
  });

  it('counters rebuilt from the DraftVerified events (by the reducer) equal the engine\'s own', async () => {
    let engineCounters: SpecDecodeCounters | undefined;
    const events = await lastValueFrom(
      from(requests(9)).pipe(
        speculativeDecode({ target, drafter: new ModelDrafter(draft), k: 'auto', kMax: 4, maxBatchSize: 4, events: factory('gen-1'), onCounters: (c) => (engineCounters = c) }),
        toArray(),
      ),
    );
    const folded = foldEvents(emptyMetricsState, events);
    const rebuilt = aggregateCounters([...folded.steps.get(3)!.workers.values()]);
    expect(engineCounters!.numDrafts).toBeGreaterThan(0);
    expect({ ...rebuilt, kSum: undefined }).toEqual({ ...engineCounters!, kSum: undefined });
    expect(rebuilt.numAcceptedTokens).toBeLessThanOrEqual(rebuilt.numDraftTokens);
    // Adaptive k: the chosen k is in the events, within 0 … kMax.
    const ks = events.filter((e): e is DraftVerified => e.type === 'DraftVerified').map((e) => e.data.k);
    expect(ks.every((k) => k >= 0 && k <= 4)).toBe(true);
  });

  it('feeds its own completions to the rollout-reuse drafter: later samples of a group draft from earlier ones', async () => {
    const reuse = new ReuseDrafter();
    // Greedy: every sample of the group is the same sequence, so the second and later are fully drafted.
    const events = await lastValueFrom(
      from(requests(3, { group: true, temperature: 0 })).pipe(speculativeDecode({ target, drafter: reuse, k: 4, maxBatchSize: 1, events: factory('gen-2') }), toArray()),
    );
    const verified = events.filter((e): e is DraftVerified => e.type === 'DraftVerified');
    const proposedBy = (id: string) => verified.filter((e) => e.data.requestId === id).reduce((s, e) => s + e.data.proposed, 0);
    const acceptedBy = (id: string) => verified.filter((e) => e.data.requestId === id).reduce((s, e) => s + e.data.accepted, 0);
    expect(proposedBy('req-0')).toBe(0);
    // 8 tokens: the first from the prefill, then drafted from req-0: 4 accepted + bonus, then
    // 1 accepted (the room left) + bonus.
    expect(acceptedBy('req-1')).toBe(5);
    expect(acceptedBy('req-2')).toBe(5);
    expect(reuse.stored('prompt-0')).toBe(3);
  });

  it('lets requests that arrive later join the running batch, and completes after the input completes', async () => {
    const input = new Subject<RolloutRequested>();
    const out: string[] = [];
    const done = lastValueFrom(
      input.pipe(speculativeDecode({ target, drafter: new NgramDrafter(), k: 2, maxBatchSize: 4, events: factory('gen-3') }), toArray()),
    );
    const reqs = requests(5);
    input.next(reqs[0]!);
    input.next(reqs[1]!);
    await new Promise((r) => setTimeout(r, 5));
    for (const r of reqs.slice(2)) input.next(r);
    input.complete();
    for (const e of await done) if (e.type === 'RolloutCompleted') out.push(e.data.requestId);
    expect(out.sort()).toEqual(reqs.map((r) => r.data.requestId).sort());
  });

  it('stops cleanly when unsubscribed mid-flight', async () => {
    const first = await lastValueFrom(
      from(requests(6)).pipe(speculativeDecode({ target, drafter: new ModelDrafter(draft), k: 2, maxBatchSize: 2, events: factory('gen-4') }), take(3), toArray()),
    );
    expect(first).toHaveLength(3);
    expect(first.every((e) => e.type === 'DraftVerified')).toBe(true);
  });

  it('errors with an actionable message for a draft model of another vocabulary', async () => {
    const other = await tinyDecoder(20, 2);
    await expect(
      lastValueFrom(from(requests(2)).pipe(speculativeDecode({ target, drafter: new ModelDrafter(other), k: 2, maxBatchSize: 2, events: factory('gen-5') }))),
    ).rejects.toThrow(/vocab_size 20 but the target tiny-target has 12/);
    await other.release();
  });

  it('rejects a duplicate request id while it is running', async () => {
    const [a] = requests(1);
    await expect(
      lastValueFrom(from([a!, a!]).pipe(speculativeDecode({ target, drafter: null, k: 0, maxBatchSize: 2, events: factory('gen-6') }))),
    ).rejects.toThrow(/req-0 is already running/);
  });
});
