import type { RewardAssigned } from '../events/index.js';

export interface AdvantageOptions {
  /** Per-sample baseline: mean of the *other* valid samples (default) or of the whole group. */
  baseline: 'leave-one-out' | 'mean';
  /** Divide by (std + epsilon) when std > 0. Default true. */
  normalize: boolean;
  /** Default 1e-6. */
  epsilon: number;
}

export const defaultAdvantageOptions: AdvantageOptions = { baseline: 'leave-one-out', normalize: true, epsilon: 1e-6 };

/** Mean and Bessel-corrected standard deviation of `xs` (std 0 when fewer than 2 values). */
function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const n = xs.length;
  if (n === 0) return { mean: 0, std: 0 };
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / n;
  if (n < 2) return { mean, std: 0 };
  // Equal values have no spread. Computed, their std is rounding noise (e.g. 1e-16 for three
  // 0.8s, whose float mean is not 0.8), and dividing by noise + 1e-6 would blow the advantage up.
  if (xs.every((x) => x === xs[0])) return { mean: xs[0]!, std: 0 };
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/**
 * GRPO advantages of one prompt group (REFERENCE.md "GRPO", NeMo-RL defaults). Pure.
 *
 * 1. Only valid samples form the group; fewer than 2 valid → every advantage is 0.
 * 2. Per valid sample i, the baseline set is the other valid samples (leave-one-out) or all
 *    valid samples (mean); baseline = its mean, std = its Bessel-corrected std (0 if < 2 values).
 * 3. advantage = r − baseline, divided by (std + epsilon) when `normalize` and std > 0.
 * 4. Invalid samples get advantage 0 (they are excluded from the loss).
 * Sums run in the order of `samples`, so a given group always gives the same bits.
 */
export function computeGroupAdvantages(
  samples: ReadonlyArray<{ reward: number; valid: boolean }>,
  options: Partial<AdvantageOptions> = {},
): number[] {
  const { baseline, normalize, epsilon } = { ...defaultAdvantageOptions, ...options };
  const validIdx = samples.flatMap((s, i) => (s.valid ? [i] : []));
  if (validIdx.length <= 1) return samples.map(() => 0);
  const whole = meanStd(validIdx.map((i) => samples[i]!.reward));
  return samples.map((s, i) => {
    if (!s.valid) return 0;
    const { mean, std } =
      baseline === 'mean' ? whole : meanStd(validIdx.filter((j) => j !== i).map((j) => samples[j]!.reward));
    const adv = s.reward - mean;
    return normalize && std > 0 ? adv / (std + epsilon) : adv;
  });
}

/**
 * Advantages of one prompt group from its `RewardAssigned` events (the data of an
 * `AdvantagesComputed` event).
 *
 * 1. Drop duplicate event ids, then duplicate `requestId`s (a reward re-sent under a new id:
 *    the lowest event id wins), so redelivery never changes the group.
 * 2. Order by `groupIndex`, then `requestId` — independent of arrival order.
 * 3. `computeGroupAdvantages`.
 * Throws when the events belong to more than one prompt.
 */
export function groupAdvantages(
  events: readonly RewardAssigned[],
  options: Partial<AdvantageOptions> = {},
): { promptId: string; advantages: Array<{ requestId: string; advantage: number }> } {
  const promptId = events[0]?.data.promptId ?? '';
  const byRequest = new Map<string, RewardAssigned>();
  for (const e of events) {
    if (e.data.promptId !== promptId) {
      throw new Error(`groupAdvantages: event ${e.id} is for prompt ${e.data.promptId}, the group is prompt ${promptId}`);
    }
    const prev = byRequest.get(e.data.requestId);
    if (!prev || e.id < prev.id) byRequest.set(e.data.requestId, e);
  }
  const group = [...byRequest.values()].sort(
    (a, b) => a.data.groupIndex - b.data.groupIndex || (a.data.requestId < b.data.requestId ? -1 : a.data.requestId > b.data.requestId ? 1 : 0),
  );
  const adv = computeGroupAdvantages(group.map((e) => e.data), options);
  return { promptId, advantages: group.map((e, i) => ({ requestId: e.data.requestId, advantage: adv[i]! })) };
}

/** Rewards gathered per (step, prompt): key `${step}/${promptId}` → requestId → event. */
export type RewardGroups = ReadonlyMap<string, ReadonlyMap<string, RewardAssigned>>;

export const emptyRewardGroups: RewardGroups = new Map();

/**
 * Folds a batch of events into the reward groups (other event types ignored; a requestId seen
 * again keeps the lowest event id). One copy per touched group per batch.
 */
export function foldRewardGroups(state: RewardGroups, batch: readonly { type: string }[]): RewardGroups {
  let next: Map<string, ReadonlyMap<string, RewardAssigned>> | undefined;
  const owned = new Map<string, Map<string, RewardAssigned>>();
  for (const raw of batch) {
    if (raw.type !== 'RewardAssigned') continue;
    const e = raw as RewardAssigned;
    const key = `${e.step}/${e.data.promptId}`;
    let group = owned.get(key);
    if (!group) {
      next ??= new Map(state);
      group = new Map(state.get(key));
      owned.set(key, group);
      next.set(key, group);
    }
    const prev = group.get(e.data.requestId);
    if (!prev || e.id < prev.id) group.set(e.data.requestId, e);
  }
  return next ?? state;
}

/** The groups of `step` that hold `groupSize` rewards, with their advantages, by prompt id. */
export function selectCompleteGroups(
  state: RewardGroups,
  step: number,
  groupSize: number,
  options: Partial<AdvantageOptions> = {},
): Array<ReturnType<typeof groupAdvantages>> {
  const out: Array<ReturnType<typeof groupAdvantages>> = [];
  for (const [key, group] of state) {
    if (!key.startsWith(`${step}/`) || group.size < groupSize) continue;
    out.push(groupAdvantages([...group.values()], options));
  }
  return out.sort((a, b) => (a.promptId < b.promptId ? -1 : a.promptId > b.promptId ? 1 : 0));
}
