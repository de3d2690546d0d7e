import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { emptyMetricsState, foldEvents, foldStepMetrics, selectStepMetrics, selectWorkerCounters } from './stepMetrics.js';
import { aggregateCounters, diffCounters } from './specDecode.js';
import { buildEvents, eventSpecArb } from '../events/arbitraries.js';

const specs = fc.array(eventSpecArb(), { minLength: 0, maxLength: 120 });
const params = { seed: 20240601, numRuns: 150 };

describe('step metrics fold (properties)', () => {
  it('does not depend on how the workers are interleaved', () => {
    fc.assert(
      fc.property(specs, fc.array(fc.integer(), { minLength: 120, maxLength: 120 }), (s, keys) => {
        const events = buildEvents(s);
        const shuffled = events.map((e, i) => ({ e, k: keys[i]! })).sort((a, b) => a.k - b.k).map((x) => x.e);
        expect(foldStepMetrics(shuffled)).toEqual(foldStepMetrics(events));
      }),
      params,
    );
  });

  it('folding a log split at any points equals folding it whole', () => {
    fc.assert(
      fc.property(specs, fc.array(fc.nat(), { maxLength: 5 }), (s, cuts) => {
        const events = buildEvents(s);
        const points = [...new Set(cuts.map((c) => (events.length === 0 ? 0 : c % (events.length + 1))))].sort((a, b) => a - b);
        let state = emptyMetricsState;
        let prev = 0;
        for (const p of [...points, events.length]) {
          state = foldEvents(state, events.slice(prev, p));
          prev = p;
        }
        expect(selectStepMetrics(state)).toEqual(foldStepMetrics(events));
      }),
      params,
    );
  });

  it('duplicated events change nothing (at-least-once delivery)', () => {
    fc.assert(
      fc.property(specs, fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 40 }), fc.nat(), (s, dups, cut) => {
        const events = buildEvents(s);
        if (events.length === 0) return;
        const withDups = [...events];
        for (const [from, at] of dups) withDups.splice(at % (withDups.length + 1), 0, events[from % events.length]!);
        const c = cut % (withDups.length + 1);
        const state = foldEvents(foldEvents(emptyMetricsState, withDups.slice(0, c)), withDups.slice(c));
        expect(selectStepMetrics(state)).toEqual(foldStepMetrics(events));
      }),
      params,
    );
  });

  it("each step's counters equal the aggregate after it minus the aggregate before it", () => {
    fc.assert(
      fc.property(specs, (s) => {
        const state = foldEvents(emptyMetricsState, buildEvents(s));
        for (const m of selectStepMetrics(state)) {
          const after = aggregateCounters(selectWorkerCounters(state, m.step).values());
          const before = aggregateCounters(selectWorkerCounters(state, m.step - 1).values());
          const d = diffCounters(after, before);
          expect(m['spec_decode/num_drafts']).toBe(d.numDrafts);
          expect(m['spec_decode/num_draft_tokens']).toBe(d.numDraftTokens);
          expect(m['spec_decode/num_accepted_tokens']).toBe(d.numAcceptedTokens);
        }
      }),
      params,
    );
  });
});
