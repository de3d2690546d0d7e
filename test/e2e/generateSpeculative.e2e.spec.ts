import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist/cli/main.js');

// `npm test` builds dist/ before vitest starts.
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` (npm test does it first)`);
});

interface Sample {
  token_ids: number[];
  logprobs: number[];
  stats?: { num_drafts: number; num_draft_tokens: number; num_accepted_tokens: number; num_accepted_tokens_per_pos: number[] };
}
const lines = (out: string): Sample[] => out.trim().split('\n').map((l) => JSON.parse(l) as Sample);
const base = ['generate', '--model', 'models/tiny-policy', '--prompt', 'sort: 3 1 2 3 1 2', '--max-new-tokens', '16', '--temperature', '0', '--format', 'json'];

describe('specstream generate with speculative decoding', () => {
  it('greedy output equals plain generate for --draft, --drafter ngram and reuse; json has stats', async () => {
    const plain = lines((await run('node', [cli, ...base])).stdout)[0]!;
    for (const extra of [['--draft', 'models/tiny-draft', '--k', '3'], ['--draft', 'models/tiny-draft', '--k', '3', '--no-joint-rounds'], ['--drafter', 'ngram', '--k', 'auto', '--n', '3', '--max-batch', '2', '--min-join', '2'], ['--drafter', 'reuse', '--n', '2', '--max-batch', '1']]) {
      const { stdout, stderr } = await run('node', [cli, ...base, ...extra, '--stats']);
      for (const s of lines(stdout)) {
        expect(s.token_ids, extra.join(' ')).toEqual(plain.token_ids);
        s.logprobs.forEach((lp, i) => expect(Math.abs(lp - plain.logprobs[i]!)).toBeLessThan(1e-5));
        expect(s.stats!.num_accepted_tokens).toBeLessThanOrEqual(s.stats!.num_draft_tokens);
        expect(Object.keys(s.stats!).sort()).toEqual(['num_accepted_tokens', 'num_accepted_tokens_per_pos', 'num_draft_tokens', 'num_drafts']);
      }
      expect(stderr).toMatch(/acceptance_rate=/);
      // a draft model with a fixed k at temperature 0: one session run per round unless told not to
      expect(/joint rounds/.test(stderr), extra.join(' ')).toBe(extra[0] === '--draft' && !extra.includes('--no-joint-rounds'));
    }
    // reuse: the second sample drafts from the first and accepts all of it (greedy)
    const reuse = lines((await run('node', [cli, ...base, '--drafter', 'reuse', '--n', '2', '--max-batch', '1', '--k', '4'])).stdout);
    expect(reuse[0]!.stats!.num_draft_tokens).toBe(0);
    expect(reuse[1]!.stats!.num_accepted_tokens).toBe(reuse[1]!.stats!.num_draft_tokens);
    expect(reuse[1]!.stats!.num_accepted_tokens).toBeGreaterThan(10);
  }, 120_000);

  it('rejects bad options with actionable messages', async () => {
    await expect(run('node', [cli, ...base, '--drafter', 'model'])).rejects.toThrow(/--drafter model needs --draft DIR/);
    await expect(run('node', [cli, ...base, '--drafter', 'ngram', '--k', 'many'])).rejects.toThrow(/--k must be a non-negative integer or "auto"/);
    await expect(run('node', [cli, ...base, '--drafter', 'magic'])).rejects.toThrow(/--drafter must be one of model, ngram, reuse/);
    await expect(run('node', [cli, ...base, '--drafter', 'ngram', '--n', '2', '--min-join', '3'])).rejects.toThrow(/--min-join must be an integer in \[1, --max-batch = 2\]; got "3"/);
  }, 60_000);
});
