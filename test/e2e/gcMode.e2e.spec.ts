import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist/cli/main.js');

describe('the CLI on a CPU runs its compute in a Node with --single-threaded-gc (docs/cpu.md)', () => {
  const bench = (env: NodeJS.ProcessEnv) =>
    run('node', [cli, 'bench', 'spec', '--quick', '--batches', '1', '--drafters', 'ngram', '--reps', '1', '--tokens', '8', '--out', mkdtempSync(join(tmpdir(), 'gc-'))], {
      env: { ...process.env, ...env },
      timeout: 120_000,
    });

  it('relaunches itself with the flag; SPECSTREAM_GC=concurrent keeps Node\'s default', async () => {
    const { stdout } = await bench({});
    expect(stdout).toMatch(/spec bench on cpu, Node with --single-threaded-gc:/);
    const plain = await bench({ SPECSTREAM_GC: 'concurrent' });
    expect(plain.stdout).toMatch(/spec bench on cpu: /);
  }, 240_000);

  it('passes the exit code and the error message through', async () => {
    const err = await run('node', [cli, 'train', '--set', 'groupSize=1']).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/groupSize/);
  });
});
