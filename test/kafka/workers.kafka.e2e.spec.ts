import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import type { SpecstreamEvent } from '../../src/events/index.js';
import { KafkaEventLog } from '../../src/streams/log/KafkaEventLog.js';
import { defaultTopology } from '../../src/streams/log/kafka/topics.js';
import { disconnectAll, kafkaBrokers, rawKafka, track, uniqueName, waitFor } from './helpers.js';

const run = promisify(execFile);
const cli = join(process.cwd(), 'dist/cli/main.js');
// small group timeouts: a dead worker's partitions move after ~6 s (the broker's minimum session)
const groupFlags = ['--session-timeout', '6000', '--heartbeat-interval', '500', '--rebalance-timeout', '10000'];

interface Worker {
  readonly id: string;
  readonly child: ChildProcess;
  stderr: string;
  stdout: string;
  readonly exited: Promise<number | null>;
}

const workers: Worker[] = [];

/** The partitions of the requests topic a worker last said it holds ("0,1,2"), if it joined. */
const lastJoin = (w: Worker) => [...w.stderr.matchAll(/partitions \[([\d,]*)\]/g)].at(-1)?.[1];

function startWorker(brokers: string, prefix: string, id: string, extra: string[] = []): Worker {
  const child = spawn('node', [cli, 'worker', '--brokers', brokers, '--run', prefix, '--id', id, ...groupFlags, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w: Worker = {
    id,
    child,
    stderr: '',
    stdout: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stderr!.on('data', (d: Buffer) => (w.stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (w.stdout += d.toString()));
  workers.push(w);
  return w;
}

/** Trains with generation=workers on a fresh run; returns the live JSON lines and stderr. */
async function trainWithWorkers(brokers: string, runId: string, steps: number): Promise<{ stdout: string; stderr: string }> {
  const log = JSON.stringify({ kind: 'kafka', brokers: [brokers], topicPrefix: 'specstream' });
  return run(
    'node',
    [cli, 'train', '--format', 'json', '--set', `steps=${steps}`, '--set', `runId="${runId}"`, '--set', 'generation="workers"', '--set', `log=${log}`],
    { maxBuffer: 1 << 24 },
  );
}

/** Every committed event of a run's topics (KafkaEventLog reads committed). */
async function committedEvents(brokers: string, prefix: string): Promise<SpecstreamEvent[]> {
  const log = new KafkaEventLog({ brokers: [brokers], topology: defaultTopology(prefix) });
  try {
    return (await lastValueFrom(log.read().pipe(toArray()))).map((p) => p.event);
  } finally {
    await log.close();
  }
}

/** RolloutCompleted per requestId, and the requests without exactly one. */
function completionsPerRequest(events: readonly SpecstreamEvent[]) {
  const requested = events.filter((e) => e.type === 'RolloutRequested').map((e) => (e as Extract<SpecstreamEvent, { type: 'RolloutRequested' }>).data.requestId);
  const done = new Map<string, SpecstreamEvent[]>();
  for (const e of events) if (e.type === 'RolloutCompleted') done.set(e.data.requestId, [...(done.get(e.data.requestId) ?? []), e]);
  const notOnce = requested.filter((id) => done.get(id)?.length !== 1);
  return { requested, done, notOnce };
}

describe('generation workers over Kafka (real broker, worker processes)', () => {
  beforeAll(async () => {
    await run('npx', ['tsc', '-p', 'tsconfig.build.json']);
  }, 180_000);

  afterEach(async () => {
    for (const w of workers.splice(0)) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await disconnectAll();
  });

  it('two workers + the driver: live metrics == replay, one RolloutCompleted per request, both workers generate', async () => {
    const brokers = kafkaBrokers();
    const runId = uniqueName('workers');
    const prefix = `specstream.${runId}`;
    const w1 = startWorker(brokers, prefix, 'gen-1');
    const w2 = startWorker(brokers, prefix, 'gen-2');
    const live = await trainWithWorkers(brokers, runId, 2);
    expect(await w1.exited).toBe(0);
    expect(await w2.exited).toBe(0);

    const rows = live.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(rows.map((r) => r['step'])).toEqual([1, 2]);
    for (const r of rows) expect(r['rollout/count']).toBe(16);
    expect(rows[1]!['spec_decode/num_drafts']).toBeGreaterThan(0);
    expect(rows[1]!['train/weights_version']).toBe(2);
    const replay = await run('node', [cli, 'replay', `kafka://${brokers}/${prefix}`, '--format', 'json']);
    expect(replay.stdout).toBe(live.stdout);

    const events = await committedEvents(brokers, prefix);
    const { requested, done, notOnce } = completionsPerRequest(events);
    expect(requested).toHaveLength(32);
    expect(notOnce).toEqual([]);
    const sources = new Set([...done.values()].flat().map((e) => e.source));
    expect([...sources].sort()).toEqual(['gen-1', 'gen-2']);
    // each step's rollouts were generated by the weights its StepStarted named (v0, then v1)
    const versions = [...done.values()].flat().map((e) => `${e.step}:${(e as Extract<SpecstreamEvent, { type: 'RolloutCompleted' }>).data.weightsVersion}`);
    expect(new Set(versions)).toEqual(new Set(['1:0', '2:1']));
    expect(events.filter((e) => e.type === 'WeightsPublished').map((e) => e.step)).toEqual([1, 2]);
    // the group split the requests partitions 3 + 3: one worker's last assignment is half of
    // them and the other's holds the rest. (Not both lasts exactly half: once, in a fresh-clone
    // run, the worker that joined first with all 6 had logged no later assignment by the time it
    // exited while the other logged 3,4,5 — ['0,1,2,3,4,5', '3,4,5']; the log line's timing is
    // kafkajs', the cause not pinned down.)
    const lasts = [lastJoin(w1), lastJoin(w2)].map((l) => (l ?? '').split(',').filter((x) => x !== '').map(Number));
    const half = lasts.findIndex((p) => p.length === 3);
    expect(half).toBeGreaterThanOrEqual(0);
    const rest = [0, 1, 2, 3, 4, 5].filter((p) => !lasts[half]!.includes(p));
    expect(rest.every((p) => lasts[1 - half]!.includes(p))).toBe(true);
    // started without --single-threaded-gc on a CPU: each says how to start it (docs/cpu.md)
    for (const w of [w1, w2]) expect(w.stderr).toMatch(/hint: on a CPU, start workers as `node --single-threaded-gc dist\/cli\/main\.js worker …`/);
  }, 120_000);

  /**
   * Kills gen-1 (-9) while its first transaction is open (events sent, offsets and commit not),
   * then either restarts it under the same id (fences the dead one: the broker aborts its
   * transaction at once) or leaves gen-2 to take over its partitions after the session timeout
   * (the broker aborts the transaction after its timeout). gen-1 starts alone (workers join the
   * group once the run has started), so it holds every partition and its first batch — the one it
   * holds open — is certain to come however slow the machine; gen-2 starts once that transaction
   * is open.
   */
  async function killMidTransaction(restart: boolean): Promise<void> {
    const brokers = kafkaBrokers();
    const runId = uniqueName(restart ? 'workers-restart' : 'workers-takeover');
    const prefix = `specstream.${runId}`;
    const victim = startWorker(brokers, prefix, 'gen-1', ['--hold-first-transaction', '60000', '--transaction-timeout', '6000']);
    const training = trainWithWorkers(brokers, runId, 2);
    await waitFor(() => /fault drill: holding/.test(victim.stderr), 'gen-1 to hold a transaction open', 60_000);
    const survivor = startWorker(brokers, prefix, 'gen-2');
    const t0 = Date.now();
    victim.child.kill('SIGKILL');
    const killedDuring = /holding the transaction of (\S+ offsets \S+) open for \d+ ms \((\d+) events/.exec(victim.stderr)!;
    const restarted = restart ? startWorker(brokers, prefix, 'gen-1') : undefined;
    // on a hang, show what each process last said
    const dump = setTimeout(() => process.stderr.write(`[fault] still running 60 s after the kill:\n${workers.map((w) => `--- ${w.id} ---\n${w.stderr}`).join('')}`), 60_000);
    const live = await training.finally(() => clearTimeout(dump));
    const recoveredMs = Date.now() - t0;
    if (restarted) expect(await restarted.exited).toBe(0);
    expect(await survivor.exited).toBe(0);
    process.stderr.write(
      `--- driver ---\n${live.stderr}--- gen-1 (killed) ---\n${victim.stderr}` +
        (restarted ? `--- gen-1 (restarted) ---\n${restarted.stderr}` : '') +
        `--- gen-2 ---\n${survivor.stderr}` +
        `[fault ${restart ? 'restart' : 'takeover'}] killed gen-1 holding ${killedDuring[1]} (${killedDuring[2]} events sent, uncommitted); run completed ${recoveredMs} ms after the kill\n`,
    );

    const rows = live.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(rows.map((r) => r['step'])).toEqual([1, 2]);
    for (const r of rows) expect(r['rollout/count']).toBe(16);
    const replay = await run('node', [cli, 'replay', `kafka://${brokers}/${prefix}`, '--format', 'json']);
    expect(replay.stdout).toBe(live.stdout);
    const events = await committedEvents(brokers, prefix);
    const { requested, notOnce } = completionsPerRequest(events);
    expect(requested).toHaveLength(32);
    expect(notOnce).toEqual([]);

    // The killed worker's records are in the topic, but aborted: a read-uncommitted consumer sees
    // more RolloutCompleted records than there are requests.
    const consumer = track(rawKafka().consumer({ groupId: uniqueName('uncommitted'), readUncommitted: true, maxWaitTimeInMs: 100 }));
    let uncommitted = 0;
    await consumer.connect();
    await consumer.subscribe({ topic: `${prefix}.rollout-events`, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void (uncommitted += message.headers?.['specstream-type']?.toString() === 'RolloutCompleted' ? 1 : 0) });
    await waitFor(() => uncommitted >= 32 + 1, 'the aborted RolloutCompleted records (read uncommitted)', 15_000);
    process.stderr.write(`[fault ${restart ? 'restart' : 'takeover'}] RolloutCompleted records: ${uncommitted} (or more) read uncommitted, 32 committed\n`);
  }

  it('a worker killed (-9) with its transaction open and restarted under its id: output invisible, run completes, nothing lost or counted twice', async () => {
    await killMidTransaction(true);
  }, 150_000);

  it('a worker killed (-9) with its transaction open, not restarted: the other worker takes over, nothing lost or counted twice', async () => {
    await killMidTransaction(false);
  }, 150_000);
});
