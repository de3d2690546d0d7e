import { describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { testDevice } from './modelHelpers.js';

/** Runs `specstream …` in-process and returns what it wrote to stdout. */
async function cli(args: string[]): Promise<string> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    chunks.push(typeof c === 'string' ? c : new TextDecoder().decode(c));
    return true;
  });
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'specstream', ...args]);
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

describe(`specstream generate (${testDevice})`, () => {
  it('--format json prints one object per sample, reproducible from --seed', async () => {
    const args = ['generate', '--model', 'models/tiny-policy', '--prompt', 'copy abc=', '--max-new-tokens', '4', '--n', '3', '--seed', '7', '--temperature', '0.9', '--top-p', '0.95', '--format', 'json', '--device', testDevice];
    const out = await cli(args);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      const ids = l['token_ids'] as number[];
      expect(l['logprobs']).toHaveLength(ids.length);
      // the bundled policy is trained on this task: it may end with end-of-text (id 0) early
      if (l['finish_reason'] === 'length') expect(ids).toHaveLength(4);
      else {
        expect(l['finish_reason']).toBe('stop');
        expect(ids.length).toBeLessThanOrEqual(4);
        expect(ids[ids.length - 1]).toBe(0);
      }
      expect(typeof l['text']).toBe('string');
      expect((l['logprobs'] as number[]).every((x) => x <= 0)).toBe(true);
    }
    expect(await cli(args)).toBe(out);
  });

  it('--prompt-ids with greedy decoding streams text and validates its options', async () => {
    const a = await cli(['generate', '--model', 'models/tiny-policy', '--prompt-ids', '1,5,9', '--temperature', '0', '--max-new-tokens', '3', '--device', testDevice]);
    const b = await cli(['generate', '--model', 'models/tiny-policy', '--prompt-ids', '1,5,9', '--temperature', '0', '--max-new-tokens', '3', '--format', 'json', '--device', testDevice]);
    expect(a).toBe(`${JSON.parse(b)['text']}\n`);
    await expect(cli(['generate', '--model', 'models/tiny-policy', '--prompt-ids', '1,99999'])).rejects.toThrow(/--prompt-ids: entry 1 "99999"/);
    await expect(cli(['generate', '--model', 'models/tiny-policy', '--prompt', 'x', '--top-p', '2'])).rejects.toThrow(/top-p must be in/);
  });
});
