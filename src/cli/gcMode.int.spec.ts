import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SINGLE_THREADED_GC, wantsSingleThreadedGc } from './gcMode.js';

describe('wantsSingleThreadedGc (the CLI relaunches itself for CPU compute)', () => {
  const env = {};
  const wants = (args: string[], e: NodeJS.ProcessEnv = env, execArgv: string[] = []) => wantsSingleThreadedGc(args, e, execArgv);

  it('compute commands on the CPU (the default device): yes', () => {
    expect(wants(['train'])).toBe(true);
    expect(wants(['train', '--set', 'steps=2'])).toBe(true);
    expect(wants(['generate', '--model', 'm', '--device', 'cpu'])).toBe(true);
    expect(wants(['bench', 'spec', '--reps', '2'])).toBe(true);
    for (const c of ['sft', 'distill', 'train-check']) expect(wants([c])).toBe(true);
  });

  it('under WebGPU — by flag, by --set, or by the run config — no', () => {
    expect(wants(['bench', 'spec', '--device', 'webgpu'])).toBe(false);
    expect(wants(['generate', '--device=webgpu'])).toBe(false);
    expect(wants(['train', '--set', 'model.device="webgpu"'])).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'gcmode-'));
    const gpu = join(dir, 'gpu.json');
    writeFileSync(gpu, JSON.stringify({ model: { device: 'webgpu' } }));
    const cpu = join(dir, 'cpu.json');
    writeFileSync(cpu, JSON.stringify({ model: { device: 'cpu' } }));
    expect(wants(['train', '-c', gpu])).toBe(false);
    expect(wants(['train', '--config', cpu])).toBe(true);
    expect(wants(['train', '-c', join(dir, 'missing.json')])).toBe(true); // the command reports it
  });

  it('workers, log readers, the dashboard, help, no command: no', () => {
    for (const args of [['worker', '--brokers', 'b'], ['replay', 'log'], ['dashboard', 'log'], ['log', 'inspect', 'x'], ['train', '--help'], [], ['--version']]) {
      expect(wants(args)).toBe(false);
    }
  });

  it('already running with the flag, or relaunched, or told otherwise: as told', () => {
    expect(wants(['train'], env, [SINGLE_THREADED_GC])).toBe(false);
    expect(wants(['train'], { SPECSTREAM_GC_RELAUNCHED: '1' })).toBe(false);
    expect(wants(['train'], { SPECSTREAM_GC: 'concurrent' })).toBe(false);
    expect(wants(['bench', 'spec', '--device', 'webgpu'], { SPECSTREAM_GC: 'single' })).toBe(true);
    expect(wants(['dashboard', 'log'], { SPECSTREAM_GC: 'single' })).toBe(false);
  });
});
