import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * On a CPU the CLI's compute commands run with V8's `--single-threaded-gc` (docs/cpu.md): every
 * decoding step's KV cache comes back from ONNX Runtime as a new ArrayBuffer, V8 collects every
 * few steps, and its concurrent GC threads compete with ONNX Runtime's threads for the cores
 * (2 cores: plain decoding 1.3× at batch 8, 1.5× at batch 64, a GRPO train step 1.15×). The flag
 * cannot be set once V8 runs (`v8.setFlagsFromString` crashed its GC), so the CLI starts itself
 * again with it. Not under WebGPU, where the main thread drives the device and GC work moved
 * onto it slows every step (H100: plain decoding 0.7–0.8×).
 *
 * `SPECSTREAM_GC=concurrent` keeps Node's default, `SPECSTREAM_GC=single` forces the flag.
 */

export const SINGLE_THREADED_GC = '--single-threaded-gc';
const RELAUNCHED = 'SPECSTREAM_GC_RELAUNCHED';

/**
 * Commands that compute on the model runtime. Not `worker` (a worker killed with -9 must stop
 * at once, which a second process in between would not give; start workers with the flag
 * yourself) and not the commands that only read logs or serve the dashboard.
 */
const COMPUTE = new Set(['train', 'generate', 'bench', 'sft', 'distill', 'train-check']);

/** Whether this invocation (`args` = process.argv after the script) should run with the flag and does not yet. */
export function wantsSingleThreadedGc(args: readonly string[], env: NodeJS.ProcessEnv, execArgv: readonly string[]): boolean {
  if (execArgv.includes(SINGLE_THREADED_GC) || env[RELAUNCHED] === '1') return false;
  const mode = env['SPECSTREAM_GC'] ?? 'auto';
  if (mode === 'concurrent') return false;
  const command = args.find((a) => !a.startsWith('-'));
  if (command === undefined || !COMPUTE.has(command)) return false;
  if (mode === 'single') return true;
  if (args.includes('--help') || args.includes('-h')) return false;
  return !requestsWebGpu(args);
}

/** `--device webgpu`, `--set model.device="webgpu"`, or a run config (`-c/--config`) whose model.device is webgpu. */
function requestsWebGpu(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1] ?? '';
    if (a === '--device=webgpu' || (a === '--device' && next === 'webgpu')) return true;
    if (a === '--set' && /^model\.device=.*webgpu/.test(next)) return true;
    if ((a === '-c' || a === '--config') && next !== '') {
      try {
        const config = JSON.parse(readFileSync(next, 'utf8')) as { model?: { device?: unknown } };
        if (config.model?.device === 'webgpu') return true;
      } catch {
        // an unreadable config is the command's to report
      }
    }
  }
  return false;
}

/**
 * Runs this CLI again in a child Node with `--single-threaded-gc` and the same arguments, and
 * resolves with its exit code (or re-raises the signal that ended it). The child is the leader of
 * its own process group, so a terminal's Ctrl-C reaches it once, through this process, which
 * forwards SIGINT, SIGTERM and SIGHUP; it exits when this process goes away (killed with -9: the
 * IPC channel closes).
 */
export function relaunchWithSingleThreadedGc(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SINGLE_THREADED_GC, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, [RELAUNCHED]: '1' },
      detached: true,
    });
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of signals) process.on(s, forward);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      if (signal) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}

/** In the relaunched child: exit when the parent goes away, without keeping the event loop alive for it. */
export function followParent(env: NodeJS.ProcessEnv): void {
  if (env[RELAUNCHED] !== '1' || !process.channel) return;
  process.on('disconnect', () => process.exit(1));
  process.channel.unref();
}
