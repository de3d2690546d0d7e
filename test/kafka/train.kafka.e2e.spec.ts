import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kafkaBrokers, uniqueName } from './helpers.js';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist/cli/main.js');

describe('specstream train with Kafka as the event log (real broker)', () => {
  it('prints per-step metrics live that replaying the Kafka topics reproduces exactly', async () => {
    const brokers = kafkaBrokers();
    const runId = uniqueName('e2e');
    const log = JSON.stringify({ kind: 'kafka', brokers: [brokers], topicPrefix: 'specstream' });
    const live = await run(
      'node',
      [cli, 'train', '--format', 'json', '--set', 'steps=2', '--set', `runId="${runId}"`, '--set', `log=${log}`],
      { maxBuffer: 1 << 24 },
    );
    const rows = live.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(rows.map((r) => r['step'])).toEqual([1, 2]);
    expect(rows[1]!['rollout/count']).toBe(16);
    expect(rows[1]!['spec_decode/num_drafts']).toBeGreaterThan(0);
    expect(live.stderr).toContain(`kafka://${brokers}/specstream.${runId}`);
    const replay = await run('node', [cli, 'replay', `kafka://${brokers}/specstream.${runId}`, '--format', 'json']);
    expect(replay.stdout).toBe(live.stdout);
  }, 180_000);
});
