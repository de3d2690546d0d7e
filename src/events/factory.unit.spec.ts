import { describe, expect, it } from 'vitest';
import { createEventFactory, seededPrng } from './factory.js';

describe('createEventFactory', () => {
  it('assigns increasing ULIDs, seq, time and the current version', () => {
    let t = 1000;
    const f = createEventFactory({ runId: 'r', source: 'w0', clock: () => t, prng: seededPrng(1) });
    const a = f.make('StepStarted', 1, { prompts: 1, groupSize: 2, weightsVersion: 0 });
    const b = f.make('StepCompleted', 1, { rollouts: 2 }); // same clock reading: still increasing
    t = 500; // clock goes backwards: ids stay monotonic
    const c = f.make('StepCompleted', 2, { rollouts: 2 });
    expect(a.id < b.id && b.id < c.id).toBe(true);
    expect([a.seq, b.seq, c.seq]).toEqual([0, 1, 2]);
    expect([a.time, c.time]).toEqual([1000, 500]);
    expect(a).toMatchObject({ type: 'StepStarted', version: 1, runId: 'r', source: 'w0', step: 1 });
    expect(a.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(f.nextSeq).toBe(3);
  });

  it('is deterministic for a seeded prng and clock', () => {
    const mk = () => createEventFactory({ runId: 'r', source: 'w', clock: () => 42, prng: seededPrng(7) });
    const x = mk().make('StepCompleted', 0, { rollouts: 0 });
    const y = mk().make('StepCompleted', 0, { rollouts: 0 });
    expect(x.id).toBe(y.id);
  });

  it('rejects a negative or fractional step', () => {
    const f = createEventFactory({ runId: 'r', source: 'w' });
    expect(() => f.make('StepCompleted', -1, { rollouts: 0 })).toThrow(/step must be an integer ≥ 0, received -1/);
    expect(() => f.make('StepCompleted', 1.5, { rollouts: 0 })).toThrow(/received 1.5/);
  });
});
