import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
    const { stdout, stderr } = await run('node', [cli, 'bench', 'spec', '--quick', '--batches', '1', '--drafters', 'ngram', '--modes', 'aa,auto', '--reps', '3', '--tokens', '8', '--out', out], { timeout: 120_000 });
    const rows = (JSON.parse(readFileSync(join(out, 'spec.json'), 'utf8')) as { rows: Row[] }).rows;
    expect(rows.map((r) => `${r.drafter} ${r.k}`)).toEqual(['plain 0', 'plain A/A', 'ngram auto']); // no generate, no fixed k, no warm
    const aa = rows[1]!;
    expect(aa.pairedRatios).toHaveLength(3);
    expect(aa.paired).toBe([...aa.pairedRatios!].sort((a, b) => a - b)[1]);
    // 3 repetitions: the interval is the whole range, covering 1 − 2/8
    expect(aa.pairedInterval).toEqual({ lo: Math.min(...aa.pairedRatios!), hi: Math.max(...aa.pairedRatios!), coverage: 0.75 });
    expect(stdout).toMatch(/plain {4}A\/A .* paired \d\.\d\d–\d\.\d\d, median \d\.\d\d–\d\.\d\d \(75%\)/);
    // progress on stderr: each repetition's paired ratios, the ones the JSON keeps
    const progress = stderr.split('\n').filter((l) => l.startsWith('bench spec: batch 1, repetition'));
    expect(progress).toHaveLength(3);
    expect(progress[2]).toMatch(/^bench spec: batch 1, repetition 3\/3 done \(\d+ s\); paired: plain A\/A \d\.\d\d, ngram auto \d\.\d\d$/);
    expect(progress.map((l) => Number(/plain A\/A (\d\.\d\d)/.exec(l)![1]))).toEqual(aa.pairedRatios!.map((r) => Number(r.toFixed(2))));
    // the run log: every timed run in order; the A/A ratios follow from it (plain runs around it)
    const runs = (JSON.parse(readFileSync(join(out, 'spec.json'), 'utf8')) as { runs: Array<{ batch: number; rep: number; order: string[]; tokensPerSec: number[] }> }).runs;
    expect(runs.map((r) => r.order)).toEqual([
      ['plain 0', 'plain A/A', 'ngram auto', 'plain 0'],
      ['plain 0', 'ngram auto', 'plain A/A', 'plain 0'], // odd repetitions reversed
      ['plain 0', 'plain A/A', 'ngram auto', 'plain 0'],
    ]);
    runs.forEach((r, rep) => {
      const at = r.order.indexOf('plain A/A');
      const plain = r.order.map((o, i) => (o === 'plain 0' ? i : -1)).filter((i) => i >= 0);
      const before = Math.max(...plain.filter((i) => i < at));
      const after = Math.min(...plain.filter((i) => i > at));
      expect(r.tokensPerSec[at]! / ((r.tokensPerSec[before]! + r.tokensPerSec[after]!) / 2)).toBeCloseTo(aa.pairedRatios![rep]!, 12);
    });
  }, 180_000);

  it('--k 1,3 gives a fixed-k row per draft length, in the order given, and keeps the list in the config', async () => {
    const out = mkdtempSync(join(tmpdir(), 'spec-k-'));
    const { stdout } = await run('node', [cli, 'bench', 'spec', '--quick', '--batches', '1', '--drafters', 'ngram', '--modes', 'fixed', '--k', '1,3', '--reps', '1', '--tokens', '8', '--out', out], { timeout: 120_000 });
    const result = JSON.parse(readFileSync(join(out, 'spec.json'), 'utf8')) as { rows: Array<Row & { meanK: number }>; config: { kFixed: unknown } };
    expect(result.rows.map((r) => `${r.drafter} ${r.k}`)).toEqual(['plain 0', 'ngram 1', 'ngram 3']);
    expect(result.rows.slice(1).map((r) => r.meanK)).toEqual([1, 3]); // each row ran its own k
    expect(result.config.kFixed).toEqual([1, 3]);
    expect(stdout).toMatch(/fixed k 1, 3/);
  }, 180_000);

  it('refuses a --k list with a repeat or a zero', async () => {
    for (const bad of ['2,2', '0,4']) {
      const err = await run('node', [cli, 'bench', 'spec', '--quick', '--k', bad]).catch((e: { stderr: string; code: number }) => e);
      expect((err as { code: number }).code).toBe(1);
      expect((err as { stderr: string }).stderr).toContain(`--k takes distinct draft lengths ≥ 1 (e.g. 4 or 1,2,4); got "${bad}"`);
    }
  });

  it('refuses an unknown mode', async () => {
    const err = await run('node', [cli, 'bench', 'spec', '--quick', '--modes', 'fixed,sometimes']).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/--modes takes a list of fixed, auto, warm, aa, generate; got "fixed,sometimes"/);
  });
});

describe('bench pool', () => {
  const setup = { device: 'webgpu', fused: true, config: { layers: 8, tokens: 128 } };
  it('pools the paired ratios of several bench spec results per row, from the CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spec-pool-'));
    writeFileSync(join(dir, 'r1.json'), JSON.stringify({ ...setup, rows: [{ batch: 1, drafter: 'plain', k: '0' }, { batch: 1, drafter: 'model', k: 'auto', pairedRatios: [0.9, 1.0, 1.1] }] }));
    writeFileSync(join(dir, 'r2.json'), JSON.stringify({ ...setup, rows: [{ batch: 1, drafter: 'model', k: 'auto', pairedRatios: [1.05, 0.95] }] }));
    const { stdout } = await run('node', [cli, 'bench', 'pool', join(dir, 'r1.json'), join(dir, 'r2.json'), '--out', dir]);
    expect(stdout).toMatch(/^1 +model +auto +2 +5 +1\.00 +0\.90–1\.10 \(94%\) +0\.90–1\.10 +1\.00 1\.00$/m);
    const pooled = JSON.parse(readFileSync(join(dir, 'pool-webgpu.json'), 'utf8')) as { rows: Array<{ n: number; median: number }> }; // named by the pooled runs' device
    expect(pooled.rows).toHaveLength(1);
    expect(pooled.rows[0]).toMatchObject({ n: 5, median: 1.0 });
  });

  it('refuses a flag it does not have, and says what it takes', async () => {
    const err = await run('node', [cli, 'bench', 'pool', 'x.json', '--reps', '3']).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/bench pool: unknown option --reps; it takes only files/);
  });

  it('says which file is not a bench spec result', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spec-pool-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...setup, rows: 'none' }));
    const err = await run('node', [cli, 'bench', 'pool', join(dir, 'bad.json'), '--out', dir]).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/bad\.json is not a bench spec result: rows: /);
  });
});
