import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist/cli/main.js');

interface Row { batch: number; drafter: string; k: string; paired: number; pairedRatios?: number[]; pairedInterval?: { lo: number; hi: number; coverage: number } }

describe('bench spec: the A/A row and --modes', () => {
  it('runs only the rows asked for; the A/A row is paired like the others, with its interval', async () => {
    const out = mkdtempSync(join(tmpdir(), 'spec-aa-'));
    const { stdout } = await run('node', [cli, 'bench', 'spec', '--quick', '--batches', '1', '--drafters', 'ngram', '--modes', 'aa,auto', '--reps', '3', '--tokens', '8', '--out', out], { timeout: 120_000 });
    const rows = (JSON.parse(readFileSync(join(out, 'spec.json'), 'utf8')) as { rows: Row[] }).rows;
    expect(rows.map((r) => `${r.drafter} ${r.k}`)).toEqual(['plain 0', 'plain A/A', 'ngram auto']); // no generate, no fixed k, no warm
    const aa = rows[1]!;
    expect(aa.pairedRatios).toHaveLength(3);
    expect(aa.paired).toBe([...aa.pairedRatios!].sort((a, b) => a - b)[1]);
    // 3 repetitions: the interval is the whole range, covering 1 − 2/8
    expect(aa.pairedInterval).toEqual({ lo: Math.min(...aa.pairedRatios!), hi: Math.max(...aa.pairedRatios!), coverage: 0.75 });
    expect(stdout).toMatch(/plain {4}A\/A .* paired \d\.\d\d–\d\.\d\d, median \d\.\d\d–\d\.\d\d \(75%\)/);
  }, 180_000);

  it('refuses an unknown mode', async () => {
    const err = await run('node', [cli, 'bench', 'spec', '--quick', '--modes', 'fixed,sometimes']).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/--modes takes a list of fixed, auto, warm, aa, generate; got "fixed,sometimes"/);
  });
});
