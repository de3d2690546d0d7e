/** Test support: fast-check arbitraries of event streams (imported by spec files only). */
import fc from 'fast-check';
import type { SpecstreamEvent } from './index.js';
import { createEventFactory, seededPrng, type EventFactory } from './factory.js';

/** A compact description of one event, turned into a real event by `buildEvents`. */
export type EventSpec =
  | { kind: 'draft'; worker: number; step: number; k: number; proposed: number; accepted: number }
  | { kind: 'reward'; worker: number; step: number; reward: number; prompt: number }
  | { kind: 'update'; worker: number; step: number; loss: number; version: number }
  | { kind: 'stepStarted'; worker: number; step: number };

/** fast-check arbitrary of event specs over `workers` workers and `steps` steps (test support). */
export function eventSpecArb(workers = 3, steps = 4): fc.Arbitrary<EventSpec> {
  const worker = fc.integer({ min: 0, max: workers - 1 });
  const step = fc.integer({ min: 1, max: steps });
  const draft = fc
    .record({ worker, step, k: fc.integer({ min: 0, max: 6 }), p: fc.double({ min: 0, max: 1, noNaN: true }), q: fc.double({ min: 0, max: 1, noNaN: true }) })
    .map(({ worker, step, k, p, q }) => {
      const proposed = Math.floor(p * (k + 1)) > k ? k : Math.floor(p * (k + 1));
      const accepted = Math.min(proposed, Math.floor(q * (proposed + 1)));
      return { kind: 'draft' as const, worker, step, k, proposed, accepted };
    });
  const reward = fc.record({ kind: fc.constant('reward' as const), worker, step, reward: fc.integer({ min: -1000, max: 1000 }).map((n) => n / 7), prompt: fc.integer({ min: 0, max: 2 }) });
  const update = fc.record({ kind: fc.constant('update' as const), worker, step, loss: fc.double({ min: -5, max: 5, noNaN: true }), version: fc.integer({ min: 0, max: 3 }) });
  const started = fc.record({ kind: fc.constant('stepStarted' as const), worker, step });
  return fc.oneof({ arbitrary: draft, weight: 6 }, { arbitrary: reward, weight: 2 }, { arbitrary: update, weight: 1 }, { arbitrary: started, weight: 1 });
}

/** Real, valid events for the specs: one factory (source `w<n>`) per worker, seeded ids. */
export function buildEvents(specs: readonly EventSpec[], seed = 1): SpecstreamEvent[] {
  const factories = new Map<number, EventFactory>();
  let t = 1_700_000_000_000;
  const factory = (w: number) => {
    let f = factories.get(w);
    if (!f) {
      f = createEventFactory({ runId: 'prop', source: `w${w}`, clock: () => t++, prng: seededPrng(seed * 100 + w) });
      factories.set(w, f);
    }
    return f;
  };
  return specs.map((s, i) => {
    const f = factory(s.worker);
    switch (s.kind) {
      case 'draft':
        return f.make('DraftVerified', s.step, { requestId: `r${i}`, drafter: 'model', k: s.k, proposed: s.proposed, accepted: s.accepted, emitted: s.accepted + 1 });
      case 'reward':
        return f.make('RewardAssigned', s.step, { requestId: `r${i}`, promptId: `p${s.prompt}`, groupIndex: i % 4, reward: s.reward, valid: true, components: { part: s.reward / 2 } });
      case 'update':
        return f.make('PolicyUpdated', s.step, { model: 'policy', loss: s.loss, gradNorm: 1, lr: 1e-4, weightsVersion: s.version, metrics: { kl: s.loss / 10 } });
      case 'stepStarted':
        return f.make('StepStarted', s.step, { prompts: 1, groupSize: 4, weightsVersion: 0 });
    }
  });
}
