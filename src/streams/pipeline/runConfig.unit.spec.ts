import { describe, expect, it } from 'vitest';
import { applyOverrides, parseRunConfig } from './runConfig.js';

describe('run config', () => {
  it('fills every default from an empty object', () => {
    const c = parseRunConfig({});
    expect(c.groupSize).toBe(4);
    expect(c.speculative.drafter).toBe('model');
    expect(c.speculative.greedyDrafts).toBe(false);
    expect(c.grpo.klType).toBe('k3');
    expect(c.log).toEqual({ kind: 'file', dir: 'runs', durability: '100ms' });
    expect(c.model.device).toBe('cpu');
  });

  it('names each invalid key and the origin', () => {
    expect(() => parseRunConfig({ groupSize: 1, sampling: { topP: 2 }, bogus: 1 }, 'my.json')).toThrow(
      /invalid configuration in my\.json:[\s\S]*groupSize[\s\S]*sampling\.topP/,
    );
    expect(() => parseRunConfig({ bogus: 1 })).toThrow(/bogus/);
    expect(() => parseRunConfig({ speculative: { maxBatch: 8, minJoin: 9 } }, 'c.json')).toThrow(/c\.json:[\s\S]*speculative\.minJoin[\s\S]*at most maxBatch/);
    expect(parseRunConfig({ speculative: { maxBatch: 8, minJoin: 8 } }).speculative.minJoin).toBe(8);
  });

  it('applies dotted overrides with JSON values', () => {
    const raw = applyOverrides({ sampling: { temperature: 1 } }, ['sampling.temperature=0', 'speculative.k="auto"', 'task=sort']);
    const c = parseRunConfig(raw);
    expect(c.sampling.temperature).toBe(0);
    expect(c.speculative.k).toBe('auto');
    expect(c.task).toBe('sort');
  });
});
