import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist/cli/main.js');

// `npm test` builds dist/ before vitest starts.
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` (npm test does it first)`);
});

describe('specstream train (the main job) and replay', () => {
  it('prints per-step metrics live that replaying its log reproduces exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'specstream-train-'));
    const live = await run('node', [cli, 'train', '--format', 'json', '--set', 'steps=2', '--set', `log.dir="${dir}"`, '--set', 'runId="e2e"'], {
      maxBuffer: 1 << 24,
    });
    const rows = live.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(rows.map((r) => r['step'])).toEqual([1, 2]);
    for (const r of rows) {
      expect(r['rollout/count']).toBe(16);
      expect(r['reward/count']).toBe(16);
      expect(r['spec_decode/num_drafts']).toBeGreaterThan(0);
      expect(r['spec_decode/num_accepted_tokens']).toBeLessThanOrEqual(r['spec_decode/num_draft_tokens']!);
      expect(Number.isFinite(r['train/loss'])).toBe(true);
      expect(r['train/grad_norm']).toBeGreaterThan(0);
    }
    expect(rows[1]!['train/weights_version']).toBe(2);
    expect(live.stderr).toMatch(/step 2\/2/);
    const replay = await run('node', [cli, 'replay', join(dir, 'e2e', 'events'), '--format', 'json']);
    expect(replay.stdout).toBe(live.stdout);
    // the final checkpoint is a loadable HF-style directory
    expect(JSON.parse(readFileSync(join(dir, 'e2e', 'weights', 'v2', 'config.json'), 'utf8'))).toHaveProperty('hidden_size');
  }, 120_000);

  it('rejects an invalid config naming the key', async () => {
    const err = await run('node', [cli, 'train', '--set', 'groupSize=1']).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/groupSize/);
  });
});
