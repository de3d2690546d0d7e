import { afterEach, describe, expect, it, vi } from 'vitest';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferTime, filter, firstValueFrom, map, take, toArray } from 'rxjs';
import type { Command } from 'commander';
import { buildProgram } from '../cli/program.js';
import { createEventFactory, seededPrng } from '../events/factory.js';
import { FileEventLog } from './log/FileEventLog.js';
import { formatStepMetrics, replayLog, stepMetricsOnCompletion } from './replay.js';

const FIXTURE = join(import.meta.dirname, '../../test/fixtures/v1-log');

/** Runs the CLI in-process and returns what it wrote to stdout. */
async function cli(...args: string[]): Promise<string> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  });
  try {
    const program = buildProgram();
    const quiet = (c: Command): void => {
      c.exitOverride().configureOutput({ writeErr: () => {} });
      c.commands.forEach(quiet);
    };
    quiet(program);
    await program.parseAsync(['node', 'specstream', ...args]);
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

describe('replay', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('replays the committed v1 log fixture (RewardAssigned v1 upcast to v2)', async () => {
    const log = await FileEventLog.open(FIXTURE, { readOnly: true });
    const rewards = await firstValueFrom(log.read().pipe(map((p) => p.event), filter((e) => e.type === 'RewardAssigned'), toArray()));
    expect(rewards).toHaveLength(8);
    expect(rewards.every((e) => e.version === 2 && JSON.stringify(e.data).includes('"components":{}'))).toBe(true);
    const rows = await replayLog(log);
    await log.close();
    expect(rows).toEqual([
      {
        step: 1,
        'spec_decode/num_drafts': 4,
        'spec_decode/num_draft_tokens': 14,
        'spec_decode/num_accepted_tokens': 7,
        'spec_decode/acceptance_rate': 0.5,
        'spec_decode/acceptance_length': 2.75,
        'spec_decode/acceptance_rate_pos_1': 0.75,
        'spec_decode/acceptance_rate_pos_2': 0.5,
        'spec_decode/acceptance_rate_pos_3': 0.25,
        'spec_decode/acceptance_rate_pos_4': 0.25,
        'spec_decode/draft_efficiency': 2.75 / 5,
        'reward/mean': 0.75,
        'reward/count': 4,
        'rollout/count': 4,
        'rollout/mean_length': 2,
        'train/loss': 0.25,
        'train/grad_norm': 1.5,
        'train/lr': 0.001,
        'train/weights_version': 1,
        'train/kl': 0.002,
      },
      expect.objectContaining({
        step: 2,
        'spec_decode/num_drafts': 3,
        'spec_decode/acceptance_rate': 5 / 6,
        'spec_decode/acceptance_length': 1 + 5 / 3,
        'spec_decode/acceptance_rate_pos_1': 1,
        'spec_decode/acceptance_rate_pos_2': 2 / 3,
        'spec_decode/draft_efficiency': (1 + 5 / 3) / 3,
        'reward/mean': 0.25,
        'train/loss': 0.5,
      }),
    ]);
  });

  it('CLI: json is one object per step per line; csv, table and filters work', async () => {
    const json = await cli('replay', FIXTURE, '--format', 'json');
    const lines = json.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ step: 1, 'spec_decode/acceptance_rate': 0.5 });
    expect(lines[1]!.startsWith('{"step":2,"spec_decode/num_drafts":3,')).toBe(true);

    const csv = (await cli('replay', FIXTURE, '--format', 'csv', '--from-step', '2')).trimEnd().split('\n');
    expect(csv[0]!.startsWith('step,spec_decode/num_drafts,spec_decode/num_draft_tokens')).toBe(true);
    expect(csv).toHaveLength(2);
    expect(csv[1]!.startsWith('2,3,6,5,')).toBe(true);

    const gen1 = JSON.parse((await cli('replay', FIXTURE, '--format', 'json', '--to-step', '1', '--worker', 'gen-1')).trim());
    expect(gen1).toMatchObject({ step: 1, 'spec_decode/num_drafts': 2, 'spec_decode/num_accepted_tokens': 1, 'reward/mean': 0.75 });

    const table = await cli('replay', FIXTURE, '--metrics', 'all');
    expect(table.split('\n')[0]).toMatch(/^step\s+sd\/num_drafts/);
    expect(table).toContain('0.5000');
    // the default table is the summary; a list picks columns in any format
    expect((await cli('replay', FIXTURE)).split('\n')[0]).toMatch(/^step\s+reward\/mean\s+rollout\/mean_length\s+sd\/acceptance_rate/);
    expect((await cli('replay', FIXTURE, '--format', 'csv', '--metrics', 'reward/mean')).split('\n')[0]).toBe('step,reward/mean');
    await expect(cli('replay', FIXTURE, '--format', 'xml')).rejects.toThrow(/expected table, json or csv, received "xml"/);
  });

  it('prints exactly what the live fold printed, from the log it wrote', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'specstream-replay-'));
    dirs.push(dir);
    const log = await FileEventLog.open(dir, { durability: 'never' });
    let t = 1_700_000_000_000;
    const mk = (source: string, seed: number) => createEventFactory({ runId: 'live', source, clock: () => t++, prng: seededPrng(seed) });
    const driver = mk('driver', 1);
    const workers = [mk('gen-0', 2), mk('gen-1', 3), mk('gen-2', 4)];
    const steps = 3;
    // The live side: follow the log, fold batches as they come, print a step when it completes.
    const live = firstValueFrom(
      log.follow().pipe(
        map((p) => p.event),
        bufferTime(5),
        filter((b) => b.length > 0),
        stepMetricsOnCompletion(),
        take(steps),
        toArray(),
      ),
    );
    for (let step = 1; step <= steps; step++) {
      await log.append([driver.make('StepStarted', step, { prompts: 2, groupSize: 2, weightsVersion: step - 1 })]);
      for (let round = 0; round < 20; round++) {
        // Workers append concurrently; some events are delivered twice (at-least-once).
        await Promise.all(
          workers.map(async (w, wi) => {
            const k = 1 + ((round + wi + step) % 5);
            const e = w.make('DraftVerified', step, { requestId: `r${wi}`, drafter: 'model', k, proposed: k - (round % 2), accepted: (round * 7 + wi) % k, emitted: 1 });
            await log.append(round % 6 === 0 ? [e, e] : [e]);
          }),
        );
      }
      await log.append([
        workers[0]!.make('RewardAssigned', step, { requestId: 'r0', promptId: 'p', groupIndex: 0, reward: step / 3, valid: true }),
        driver.make('StepCompleted', step, { rollouts: 4 }),
      ]);
    }
    const printedLive = formatStepMetrics(await live, 'json');
    await log.close();
    expect(printedLive.trimEnd().split('\n')).toHaveLength(steps);
    expect(await cli('replay', dir, '--format', 'json')).toBe(printedLive);
  });

  it('replays a log copied mid-write (torn tail) read-only, with a warning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'specstream-replay-'));
    dirs.push(dir);
    await cp(FIXTURE, dir, { recursive: true });
    const { appendFile } = await import('node:fs/promises');
    await appendFile(join(dir, '00000000000000000000.seg'), '00000000 {"id":"torn');
    const errs: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (errs.push(String(c)), true));
    try {
      expect((await cli('replay', dir, '--format', 'json')).trimEnd().split('\n')).toHaveLength(2);
    } finally {
      spy.mockRestore();
    }
    expect(errs.join('')).toMatch(/warning: .*torn last record .*skipped \(read-only\)/);
  });
});
