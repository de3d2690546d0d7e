import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decoder } from '../runtime/Decoder.js';
import { KvBatch } from './kvBatch.js';
import { fullSequenceLogits, tinyTargetAndDraft, type TinyModels } from './testModels.js';

const V = 12;
let models: TinyModels;
let target: Decoder;
beforeAll(async () => {
  models = await tinyTargetAndDraft({ vocab: V, seed: 5 });
  ({ target } = models);
});
afterAll(() => models.release());

/** Max |a − b| between a KvBatch row's logits and a plain full forward of its valid tokens + next. */
async function deviation(batch: KvBatch, rows: number[][], next: number[]): Promise<number> {
  const out = await batch.append(next.map((t) => [t]));
  let worst = 0;
  for (let b = 0; b < rows.length; b++) {
    const ref = await fullSequenceLogits(target, [...batch.cachedTokens(b)]);
    const n = batch.cachedTokens(b).length;
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(out.logits[b * V + v]! - ref[(n - 1) * V + v]!));
  }
  return worst;
}

describe('KvBatch', () => {
  it('rolled-back (masked) tokens, joins and compaction leave logits equal to a plain forward', async () => {
    const finalLength: number[] = [];
    for (const compactAt of [0, 8]) {
      const batch = new KvBatch(target, compactAt);
      await batch.admit([{ id: 'a', tokens: [1, 2, 3] }, { id: 'b', tokens: [4] }]);
      // Append drafts and roll part of them back, several times: holes accumulate.
      for (let r = 0; r < 4; r++) {
        await batch.append([[5, 6, 7], [8, 9]]);
        batch.truncate(0, batch.cachedTokens(0).length - 2);
        batch.truncate(1, batch.cachedTokens(1).length - 1);
      }
      await batch.admit([{ id: 'c', tokens: [3, 3, 3, 3, 3, 3] }]); // joins with a longer prompt
      await batch.retain(['c', 'a', 'b']);
      expect(await deviation(batch, [[], [], []], [7, 1, 2])).toBeLessThan(1e-5);
      finalLength.push(batch.pastLength);
      batch.dispose();
    }
    // Without compaction every appended slot stays; with it, at most twice the longest row.
    expect(finalLength[0]).toBe(3 + 4 * 3 + 1);
    expect(finalLength[1]).toBeLessThan(finalLength[0]!);
  });

  it('compacts below its hole share on request (the engine, when speculation switches back to k = 0 with rounds ahead)', async () => {
    const batch = new KvBatch(target, 8); // default share 0.5
    await batch.admit([{ id: 'a', tokens: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }, { id: 'b', tokens: [4, 5, 6, 7, 8, 9] }]);
    await batch.append([[5, 6, 7], [8, 9, 1]]); // a round with k = 2 …
    batch.truncate(0, batch.cachedTokens(0).length - 2); // … of which 2 and 1 drafts were rejected
    batch.truncate(1, batch.cachedTokens(1).length - 1);
    const before = batch.pastLength; // 13 slots, 2 holes after the longest row (15%)
    expect(batch.reclaimable).toBe(2);
    expect(await batch.compact()).toBe(false);
    expect(await batch.compact(true)).toBe(true);
    expect(batch.reclaimable).toBe(0);
    expect(await batch.compact(true)).toBe(false); // nothing left to drop
    expect(batch.pastLength).toBe(before - 2);
    expect(await deviation(batch, [[], []], [7, 1])).toBeLessThan(1e-5);
    batch.dispose();
  });
});
