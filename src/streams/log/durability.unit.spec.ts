import { describe, expect, it } from 'vitest';
import { DEFAULT_DURABILITY, parseDurability } from './durability.js';

describe('durability policy', () => {
  it('parses batch, never and <N>ms, and names a bad value', () => {
    expect(parseDurability('batch')).toBe('batch');
    expect(parseDurability('never')).toBe('never');
    expect(parseDurability('250ms')).toEqual({ intervalMs: 250 });
    expect(() => parseDurability('0ms')).toThrow('received "0ms"');
    expect(() => parseDurability('always')).toThrow('durability must be "batch", "never" or "<N>ms" with N > 0, received "always"');
    expect(DEFAULT_DURABILITY).toEqual({ intervalMs: 100 });
  });
});
