import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** infra/kafka of this checkout (same depth from src/ and dist/). */
export const kafkaInfraDir = fileURLToPath(new URL('../../../../infra/kafka/', import.meta.url));

export interface LocalBroker {
  /** Bootstrap address, `127.0.0.1:<port>`. */
  brokers: string;
  /** Config, pid file and logs (`logs/server.log`) of this broker. */
  stateDir: string;
}

function runScript(script: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [`${kafkaInfraDir}${script}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`infra/kafka/${script} ${args.join(' ')} exited with ${code}:\n${stderr}`));
    });
  });
}

/**
 * Starts (or finds running) the single-node broker of `stateDir` with infra/kafka/start.sh:
 * resolves Kafka from Maven Central on first use, formats a fresh data dir or restarts a kept
 * one, waits until it serves requests. With `ownerPid`, the broker stops when that process dies.
 * Throws with the script's output (including the broker's log tail) when the broker fails to start.
 */
export async function startLocalBroker(stateDir: string, ownerPid?: number): Promise<LocalBroker> {
  const args = ['--state-dir', stateDir];
  if (ownerPid !== undefined) args.push('--owner-pid', String(ownerPid));
  const { stdout, stderr } = await runScript('start.sh', args);
  const m = /SPECSTREAM_KAFKA_BROKERS=(\S+)/.exec(stdout);
  if (!m) throw new Error(`infra/kafka/start.sh printed no SPECSTREAM_KAFKA_BROKERS line:\n${stdout}\n${stderr}`);
  return { brokers: m[1]!, stateDir };
}

/**
 * Stops the broker of `stateDir` (SIGTERM, or SIGKILL with `kill`). With `keepData`, a later
 * `startLocalBroker(stateDir)` restarts the same broker (same ports, same log); without, its
 * data is deleted.
 */
export async function stopLocalBroker(stateDir: string, opts: { keepData?: boolean; kill?: boolean } = {}): Promise<void> {
  const args = ['--state-dir', stateDir];
  if (opts.keepData) args.push('--keep-data');
  if (opts.kill) args.push('--kill');
  await runScript('stop.sh', args);
}
