import { describe, expect, it } from 'vitest';
import { benchArgs } from './index.js';

describe('benchArgs', () => {
  it('splits a benchmark’s own arguments into flags (value, =value, bare) and operands', () => {
    expect(benchArgs(['a.json', '--batches', '1,8', '--k=1,2', '--same-length', '--fused', 'b.json'])).toEqual({
      flags: { batches: '1,8', k: '1,2', 'same-length': true, fused: 'b.json' }, // a bare flag takes the next operand: put operands first
      operands: ['a.json'],
    });
    expect(benchArgs(['x.json', 'y.json'])).toEqual({ flags: {}, operands: ['x.json', 'y.json'] });
    expect(benchArgs([])).toEqual({ flags: {}, operands: [] });
  });
});
