import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createEventFactory, seededPrng } from '../events/factory.js';
import { computeGroupAdvantages, emptyRewardGroups, foldRewardGroups, groupAdvantages, selectCompleteGroups } from './grpoAdvantages.js';

const v = (reward: number, valid = true) => ({ reward, valid });

describe('GRPO advantages (REFERENCE.md)', () => {
  it('leave-one-out baseline with Bessel std and epsilon (default)', () => {
    const adv = computeGroupAdvantages([v(1), v(0), v(0), v(1)]);
    // sample 0: others [0, 0, 1]: mean 1/3, Bessel std sqrt(1/3)
    const std = Math.sqrt(1 / 3);
    expect(adv[0]).toBeCloseTo((1 - 1 / 3) / (std + 1e-6), 12);
    expect(adv[1]).toBeCloseTo((0 - 2 / 3) / (std + 1e-6), 12);
    expect(adv[3]).toBe(adv[0]);
  });

  it('group-mean baseline and normalisation off', () => {
    const std = Math.sqrt(1 / 3); // Bessel std of [1, 0, 0, 1]
    expect(computeGroupAdvantages([v(1), v(0), v(0), v(1)], { baseline: 'mean' })[0]).toBeCloseTo(0.5 / (std + 1e-6), 12);
    expect(computeGroupAdvantages([v(1), v(0), v(0), v(1)], { baseline: 'mean', normalize: false })).toEqual([0.5, -0.5, -0.5, 0.5]);
    expect(computeGroupAdvantages([v(3), v(1)], { normalize: true })).toEqual([2, -2]); // LOO std of one value: 0 → not divided
  });

  it('groups with ≤ 1 valid sample get 0; invalid samples get 0 and leave the group', () => {
    expect(computeGroupAdvantages([v(1), v(0, false), v(5, false)])).toEqual([0, 0, 0]);
    expect(computeGroupAdvantages([])).toEqual([]);
    expect(computeGroupAdvantages([v(1), v(9, false), v(0)], { normalize: false })).toEqual([1, 0, -1]);
    expect(computeGroupAdvantages([v(2), v(2), v(2)])).toEqual([0, 0, 0]); // std 0: r − baseline = 0
  });

  it('group-mean advantages sum to zero (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 2, maxLength: 16 }), (rs) => {
        const adv = computeGroupAdvantages(rs.map((r) => v(r)), { baseline: 'mean', normalize: false });
        expect(Math.abs(adv.reduce((a, b) => a + b, 0))).toBeLessThan(1e-9);
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('from RewardAssigned events: duplicates and arrival order do not matter', () => {
    const f = createEventFactory({ runId: 'r', source: 'gen', clock: () => 0, prng: seededPrng(5) });
    const ev = [1, 0, 0.5, 1].map((reward, i) => f.make('RewardAssigned', 2, { requestId: `q${i}`, promptId: 'p', groupIndex: i, reward, valid: true }));
    const expected = { promptId: 'p', advantages: computeGroupAdvantages([1, 0, 0.5, 1].map((r) => v(r))).map((advantage, i) => ({ requestId: `q${i}`, advantage })) };
    expect(groupAdvantages(ev)).toEqual(expected);
    expect(groupAdvantages([ev[3]!, ev[1]!, ev[0]!, ev[1]!, ev[2]!])).toEqual(expected);
    let s = foldRewardGroups(emptyRewardGroups, ev.slice(0, 2));
    expect(selectCompleteGroups(s, 2, 4)).toEqual([]);
    s = foldRewardGroups(s, [...ev.slice(1), ev[0]!]);
    expect(selectCompleteGroups(s, 2, 4)).toEqual([expected]);
    const other = createEventFactory({ runId: 'r', source: 'gen' }).make('RewardAssigned', 2, { requestId: 'z', promptId: 'other', groupIndex: 0, reward: 0, valid: true });
    expect(() => groupAdvantages([ev[0]!, other])).toThrow(/prompt other, the group is prompt p/);
  });
});

describe('computeGroupAdvantages with equal rewards that are not exact binary fractions', () => {
  it('treats an all-equal baseline set as std 0 instead of dividing by rounding noise', () => {
    // mean([0.8, 0.8, 0.8]) is 0.8000000000000002 in floats: the computed std is ~1e-16, not 0
    const adv = computeGroupAdvantages(
      [0.8, 0.8, 0.8, 0.4].map((reward) => ({ reward, valid: true })),
      { baseline: 'leave-one-out', normalize: true },
    );
    expect(adv[3]).toBeCloseTo(-0.4, 12);
    for (const a of adv) expect(Math.abs(a)).toBeLessThan(10);
  });
});
