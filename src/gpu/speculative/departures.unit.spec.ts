import { describe, expect, it } from 'vitest';
import { DepartureRent } from './departures.js';

describe('DepartureRent (when finished rows leave the cache)', () => {
  it('drops once the finished rows have cost as much as a drop (the first drop: one forward)', () => {
    const rent = new DepartureRent();
    expect(rent.carried(0, 8, 0.01)).toBe(false); // nothing finished: no rent
    // 1 of 8 rows finished: 1/8 of a 10 ms forward per round; the first drop is priced at 10 ms
    const rounds = Array.from({ length: 10 }, () => rent.carried(1, 8, 0.01));
    expect(rounds.slice(0, 7)).toEqual(Array(7).fill(false)); // 8.75 ms after the 7th round
    expect(rounds[8]).toBe(true); // 11.25 ms after the 9th
    rent.dropped(0.002); // a drop measured at 2 ms: rent starts over, priced at 2 ms now
    expect(rent.carried(2, 8, 0.006)).toBe(false); // 1.5 ms of rent
    expect(rent.carried(2, 8, 0.006)).toBe(true); // 3 ms
    rent.dropped(0.002); // priced at 2 ms (an average of the drops)
    expect(rent.carried(1, 8, 0.01)).toBe(false); // 1.25 ms
    expect(rent.carried(1, 8, 0.01)).toBe(true); // 2.5 ms
  });

  it('costs at most about twice the best schedule known in advance (rent or buy)', () => {
    // Departures one per round from round 0; a finished row costs u per round; a drop costs g.
    // Best schedule with hindsight: drop every D rounds, cost per round ≈ g/D + u(D−1)/2, minimised over D.
    for (const [u, g] of [[1, 27], [0.05, 20], [1, 2], [0.2, 100]] as const) {
      const rounds = 2000;
      const rent = new DepartureRent();
      rent.dropped(g); // the drop cost is known (measured before)
      let finished = 0;
      let cost = 0;
      for (let r = 0; r < rounds; r++) {
        finished++;
        cost += finished * u;
        if (rent.carried(finished, 64, u * 64)) {
          cost += g;
          rent.dropped(g);
          finished = 0;
        }
      }
      const best = Math.min(...Array.from({ length: 400 }, (_, i) => i + 1).map((D) => g / D + (u * (D + 1)) / 2)) * rounds;
      expect(cost / best).toBeLessThan(2);
      expect(cost / best).toBeGreaterThan(0.99);
    }
  });
});
