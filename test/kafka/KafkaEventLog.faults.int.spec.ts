import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstValueFrom, toArray } from 'rxjs';
import type { SpecstreamEvent } from '../../src/events/index.js';
import { createEventFactory, seededPrng } from '../../src/events/factory.js';
import { startLocalBroker, stopLocalBroker, type LocalBroker } from '../../src/streams/log/kafka/localBroker.js';
import { defaultTopology } from '../../src/streams/log/kafka/topics.js';
import { KafkaEventLog } from '../../src/streams/log/KafkaEventLog.js';
import { uniqueName } from './helpers.js';

/**
 * The broker stopped (SIGTERM) or killed (SIGKILL) and restarted while producers append: every
 * event acknowledged to a caller must be in the log exactly once afterwards. Runs on a broker of
 * its own (the shared test broker keeps serving the other test files).
 */
const trials: Array<{ signal: 'TERM' | 'KILL'; downMs: number }> = [
  { signal: 'TERM', downMs: 500 },
  { signal: 'KILL', downMs: 500 },
  { signal: 'KILL', downMs: 2_000 },
];

function rolloutEvents(f: ReturnType<typeof createEventFactory>, n: number, step: number): SpecstreamEvent[] {
  return Array.from({ length: n }, (_, i) =>
    i % 3 === 0
      ? f.make('RewardAssigned', step, { requestId: `r${i}`, promptId: `p${i % 5}`, groupIndex: i % 4, reward: 1, valid: true })
      : f.make('DraftVerified', step, { requestId: `r${i % 7}`, drafter: 'model', k: 4, proposed: 4, accepted: 2, emitted: 3 }),
  );
}

describe('KafkaEventLog under broker restarts', () => {
  let stateDir: string;
  let broker: LocalBroker;
  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'specstream-kafka-faults-'));
    broker = await startLocalBroker(stateDir, process.pid);
  });
  afterAll(async () => {
    await stopLocalBroker(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged event exactly once across stop/kill and restart', async () => {
    const topology = defaultTopology(uniqueName('faults'));
    topology.partitions = { requests: 2, 'rollout-events': 2, results: 2, training: 1, weights: 1 };
    const log = new KafkaEventLog({ brokers: [broker.brokers], topology });
    const outcomes: string[] = [];
    try {
      await log.connect();
      const acked = new Set<string>();
      const unacked = new Set<string>();
      for (const [t, trial] of trials.entries()) {
        let stop = false;
        let appendsAfterRestart = 0;
        let restarted = false;
        let failures = 0;
        const before = acked.size;
        // Two producers (sources) append batches of 12 in a loop until the broker is back and
        // each got 5 more batches through.
        const appender = async (w: number): Promise<void> => {
          const f = createEventFactory({ runId: 'faults', source: `t${t}-w${w}`, prng: seededPrng(100 * t + w) });
          while (!stop) {
            const batch = rolloutEvents(f, 12, t);
            try {
              await log.append(batch);
              batch.forEach((e) => acked.add(e.id));
              if (restarted) appendsAfterRestart++;
            } catch {
              failures++;
              batch.forEach((e) => unacked.add(e.id));
            }
          }
        };
        const running = [appender(0), appender(1)];
        await new Promise((r) => setTimeout(r, 400));
        await stopLocalBroker(stateDir, { keepData: true, kill: trial.signal === 'KILL' });
        await new Promise((r) => setTimeout(r, trial.downMs));
        await startLocalBroker(stateDir, process.pid);
        restarted = true;
        const deadline = Date.now() + 30_000;
        while (appendsAfterRestart < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        stop = true;
        await Promise.all(running);
        outcomes.push(
          `trial ${t + 1} (SIG${trial.signal}, down ${trial.downMs} ms): ${acked.size - before} events acknowledged, ` +
            `${failures} appends failed, ${appendsAfterRestart} appends after restart`,
        );
        expect(appendsAfterRestart).toBeGreaterThanOrEqual(10);
      }

      const got = await firstValueFrom(log.read().pipe(toArray()));
      const count = new Map<string, number>();
      for (const p of got) count.set(p.event.id, (count.get(p.event.id) ?? 0) + 1);
      const missing = [...acked].filter((id) => !count.has(id));
      const doubled = [...acked].filter((id) => (count.get(id) ?? 0) > 1);
      const unackedPresent = [...unacked].filter((id) => count.has(id)).length;
      const strangers = [...count.keys()].filter((id) => !acked.has(id) && !unacked.has(id));
      outcomes.push(
        `log: ${got.length} records; acknowledged ${acked.size}, missing ${missing.length}, doubled ${doubled.length}; ` +
          `unacknowledged ${unacked.size} (${unackedPresent} of them written anyway)`,
      );
      console.log(`[faults] ${trials.length} trials\n  ${outcomes.join('\n  ')}`);
      expect(missing).toEqual([]);
      expect(doubled).toEqual([]);
      expect(strangers).toEqual([]);
      expect(got.length).toBe(acked.size + unackedPresent);
    } finally {
      await log.close();
    }
  }, 150_000);

  it('a follower across a broker outage resumes where it stopped, within seconds: every event once, in the log order', async () => {
    // Default partitioning (6 partitions for rollout events): on this broker kafkajs then
    // usually crashes the idle reader's consumer when the broker dies ("No broker available")
    // and restarts it; otherwise its member re-joins the group ("coordinator is not aware of
    // this member"). Either way the reader must resume at the offsets it reached.
    const topology = defaultTopology(uniqueName('faults-follow'));
    const restarts: string[] = [];
    // Few, short retries: an 8 s outage outlasts them (the defaults ride out tens of seconds).
    const log = new KafkaEventLog({
      brokers: [broker.brokers],
      topology,
      readerRetry: { retries: 2, initialRetryTime: 100, maxRetryTime: 400 },
      onReaderRestart: (info) => restarts.push(info.error),
    });
    const f = createEventFactory({ runId: 'faults', source: 'follow', prng: seededPrng(7) });
    const got: string[] = [];
    let failed: unknown;
    try {
      await log.append(rolloutEvents(f, 60, 1));
      const sub = log.follow().subscribe({ next: (p) => got.push(p.event.id), error: (e: unknown) => (failed = e) });
      let resumeMs = 0;
      try {
        const until = async (n: number, what: string, timeoutMs: number): Promise<void> => {
          const deadline = Date.now() + timeoutMs;
          while (got.length < n && failed === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          if (failed !== undefined) throw failed;
          expect(got.length, what).toBeGreaterThanOrEqual(n);
        };
        await until(60, 'the backlog before the outage', 30_000);
        await new Promise((r) => setTimeout(r, 2_000)); // the follower idles, polling for more
        await stopLocalBroker(stateDir, { keepData: true, kill: true });
        await new Promise((r) => setTimeout(r, 8_000));
        await startLocalBroker(stateDir, process.pid);
        const back = Date.now();
        await log.append(rolloutEvents(f, 60, 2));
        // A restarted member used to wait ~30 s (the session timeout) for its dead predecessor
        // to leave the group before it could join; a reader's session is 6 s now.
        await until(120, 'the events appended after the restart, within 20 s', 20_000);
        resumeMs = Date.now() - back;
        await new Promise((r) => setTimeout(r, 1_000)); // anything delivered twice would show by now
      } finally {
        sub.unsubscribe();
      }
      const all = await firstValueFrom(log.read().pipe(toArray()));
      console.log(
        `[faults] follower across an 8 s outage (SIGKILL): ${restarts.length} consumer restart(s) by kafkajs, resumed ${resumeMs} ms after the broker was back, ` +
          `${got.length} events delivered, the log holds ${all.length}`,
      );
      expect(failed).toBeUndefined();
      expect(got).toEqual(all.map((p) => p.event.id)); // each once, in the log's order
      expect(new Set(got).size).toBe(120);
    } finally {
      await log.close();
    }
  }, 150_000);
});
