import type { Chance } from './chance.js';

/** One outcome of a random procedure and its exact probability. */
export interface Outcome<T> {
  readonly value: T;
  readonly prob: number;
}

/**
 * Runs `procedure` once per path through its random decisions and returns every outcome with
 * its exact probability: the procedure's output distribution, computed from its real code.
 * Used to check the acceptance rule exactly (no sampling noise) and usable on a user's own rule.
 *
 * 1. A path is the list of branch indices taken at each decision so far.
 * 2. Run the procedure with a `Chance` that replays the path; at the first decision past its
 *    end, take the first branch of positive probability and queue every other such branch as
 *    a new path (depth-first).
 * 3. The outcome's probability is the product of the probabilities of the branches taken.
 *
 * The procedure must be deterministic given its decisions, and finite.
 *
 * @example
 * enumerateOutcomes((c) => c.bernoulli(0.25)); // [{value: true, prob: 0.25}, {value: false, prob: 0.75}]
 */
export function enumerateOutcomes<T>(procedure: (chance: Chance) => T): Outcome<T>[] {
  const outcomes: Outcome<T>[] = [];
  const pending: number[][] = [[]];
  while (pending.length > 0) {
    const path = pending.pop()!;
    let depth = 0;
    let prob = 1;
    const choose = (probs: readonly number[]): number => {
      if (depth < path.length) {
        const c = path[depth++]!;
        prob *= probs[c]!;
        return c;
      }
      const live = probs.flatMap((pr, i) => (pr > 0 ? [i] : []));
      if (live.length === 0) throw new Error('enumerateOutcomes: a decision has no branch of positive probability');
      for (const c of live.slice(1)) pending.push([...path.slice(0, depth), c]);
      path.push(live[0]!);
      depth++;
      prob *= probs[live[0]!]!;
      return live[0]!;
    };
    const chance: Chance = {
      bernoulli(p: number): boolean {
        const pc = Math.min(1, Math.max(0, p));
        return choose([pc, 1 - pc]) === 0;
      },
      categorical(weights: ArrayLike<number>): number {
        let total = 0;
        for (let i = 0; i < weights.length; i++) total += weights[i]!;
        if (!(total > 0)) throw new Error(`categorical: the weights must have a positive sum, received ${total}`);
        return choose(Array.from(weights, (w) => w / total));
      },
    };
    const value = procedure(chance);
    outcomes.push({ value, prob });
  }
  return outcomes;
}
