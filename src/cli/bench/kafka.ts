import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { SpecstreamEvent } from '../../events/index.js';
import { encodeEvent } from '../../events/codec.js';
import { createEventFactory, seededPrng } from '../../events/factory.js';
import { FileEventLog } from '../../streams/log/FileEventLog.js';
import type { EventLog } from '../../streams/log/EventLog.js';
import { KafkaEventLog } from '../../streams/log/KafkaEventLog.js';
import { specstreamLogCreator } from '../../streams/log/kafka/logging.js';
import { startLocalBroker, stopLocalBroker } from '../../streams/log/kafka/localBroker.js';
import { defaultTopology, route } from '../../streams/log/kafka/topics.js';
import { replayLog } from '../../streams/replay.js';
import type { Benchmark } from './index.js';

/** A rollout-shaped mix: mostly verification rounds, some completions and rewards, over 4 workers. */
function benchEvents(n: number): SpecstreamEvent[] {
  const factories = Array.from({ length: 4 }, (_, w) =>
    createEventFactory({ runId: 'bench', source: `gen-${w}`, prng: seededPrng(w + 1) }),
  );
  return Array.from({ length: n }, (_, i) => {
    const f = factories[i % 4]!;
    const step = 1 + Math.floor(i / 10_000);
    const req = `s${step}-r${Math.floor(i / 40)}`;
    if (i % 10 === 8) {
      return f.make('RolloutCompleted', step, {
        requestId: req, promptId: `p${i % 64}`, groupIndex: i % 8, tokenIds: [11, 12, 13, 14, 15, 16, 17, 18],
        logprobs: [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8], finishReason: 'stop', weightsVersion: step,
      });
    }
    if (i % 10 === 9) {
      return f.make('RewardAssigned', step, { requestId: req, promptId: `p${i % 64}`, groupIndex: i % 8, reward: (i % 3) / 2, valid: true });
    }
    return f.make('DraftVerified', step, { requestId: req, drafter: 'model', k: 4, proposed: 4, accepted: i % 5, emitted: (i % 5) + 1 });
  });
}

/** Appends in batches, then replays (read + fold into step metrics); seconds for each part. */
async function throughLog(log: EventLog, events: readonly SpecstreamEvent[], batch: number): Promise<{ append: number; fold: number; steps: number }> {
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += batch) await log.append(events.slice(i, i + batch));
  const t1 = performance.now();
  const rows = await replayLog(log);
  const t2 = performance.now();
  return { append: (t1 - t0) / 1000, fold: (t2 - t1) / 1000, steps: rows.length };
}

/**
 * Raw kafkajs on the same broker: the same encoded values and keys, the same producer settings
 * (idempotent, acks = all, batches of the same size, same topic count and partitions), then one
 * consumer group reading them back — no decoding, no validation, no ordering, no fold.
 */
async function rawKafkajs(brokers: string, events: readonly SpecstreamEvent[], batch: number): Promise<{ produce: number; consume: number }> {
  const topology = defaultTopology(`bench-raw-${randomUUID()}`);
  const kafka = new Kafka({ clientId: 'bench-raw', brokers: [brokers], logCreator: specstreamLogCreator(logLevel.ERROR) });
  const admin = kafka.admin();
  await admin.connect();
  const messages = events.map((e) => ({ ...route(topology, e), value: encodeEvent(e) }));
  const topics = [...new Set(messages.map((m) => m.topic))];
  const partitionsOf = (t: string) => topology.partitions[t.slice(topology.prefix.length + 1) as keyof typeof topology.partitions];
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitionsOf(topic), replicationFactor: 1 })), waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i += batch) {
    const byTopic = new Map<string, Array<{ key: string; value: string }>>();
    for (const m of messages.slice(i, i + batch)) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), { key: m.key, value: m.value }]);
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })) });
  }
  const t1 = performance.now();
  const consumer = kafka.consumer({ groupId: `bench-raw-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let got = 0;
  await new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch: b }) => {
        got += b.messages.length;
        if (got >= messages.length) resolve();
      },
    });
  });
  const t2 = performance.now();
  await Promise.all([consumer.disconnect(), producer.disconnect()]);
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
  return { produce: (t1 - t0) / 1000, consume: (t2 - t1) / 1000 };
}

/**
 * `npm run bench -- kafka [--quick] [--events N] [--batch B]`: events/s end to end (append →
 * consume → fold into step metrics) through KafkaEventLog and through the file log, and raw
 * kafkajs produce/consume of the same messages on the same broker; reports the overhead ratio
 * (KafkaEventLog time / raw kafkajs time; aim ≤ 1.5). Uses the broker in SPECSTREAM_KAFKA_BROKERS,
 * or starts one with infra/kafka (and stops it after).
 */
export const kafkaBenchmark: Benchmark = {
  name: 'kafka',
  description: 'KafkaEventLog vs file log vs raw kafkajs: events/s append → consume → fold',
  async run(options) {
    const n = Number(options['events'] ?? (options['quick'] ? 20_000 : 100_000));
    const batch = Number(options['batch'] ?? 500);
    let brokers = process.env['SPECSTREAM_KAFKA_BROKERS'];
    let stateDir: string | undefined;
    if (!brokers) {
      stateDir = mkdtempSync(join(tmpdir(), 'specstream-kafka-bench-'));
      process.stderr.write('bench kafka: no SPECSTREAM_KAFKA_BROKERS; starting a broker with infra/kafka/start.sh\n');
      brokers = (await startLocalBroker(stateDir, process.pid)).brokers;
    }
    const dir = mkdtempSync(join(tmpdir(), 'specstream-bench-filelog-'));
    try {
      const events = benchEvents(n);
      const bytes = events.reduce((s, e) => s + Buffer.byteLength(encodeEvent(e)), 0);
      // Warm-up (JIT, connections, broker) on a small run of each path.
      await rawKafkajs(brokers, events.slice(0, 2000), batch);
      const raw = await rawKafkajs(brokers, events, batch);

      const kafkaLog = new KafkaEventLog({ brokers: [brokers], topology: defaultTopology(`bench-${randomUUID()}`) });
      await kafkaLog.connect();
      const k = await throughLog(kafkaLog, events, batch);
      await kafkaLog.close();

      const file = await FileEventLog.open(dir);
      const f = await throughLog(file, events, batch);
      await file.close();

      const rawTotal = raw.produce + raw.consume;
      const kTotal = k.append + k.fold;
      const fTotal = f.append + f.fold;
      const rate = (s: number) => Math.round(n / s);
      const lines = [
        `kafka bench: ${n} events (${(bytes / n).toFixed(0)} B each on average), batches of ${batch}, broker ${brokers}`,
        `  raw kafkajs      produce ${rate(raw.produce).toString().padStart(8)} ev/s  consume ${rate(raw.consume).toString().padStart(8)} ev/s  end to end ${rate(rawTotal).toString().padStart(8)} ev/s  (${rawTotal.toFixed(2)} s)`,
        `  KafkaEventLog    append  ${rate(k.append).toString().padStart(8)} ev/s  read+fold ${rate(k.fold).toString().padStart(8)} ev/s  end to end ${rate(kTotal).toString().padStart(8)} ev/s  (${kTotal.toFixed(2)} s, ${k.steps} steps)`,
        `  FileEventLog     append  ${rate(f.append).toString().padStart(8)} ev/s  read+fold ${rate(f.fold).toString().padStart(8)} ev/s  end to end ${rate(fTotal).toString().padStart(8)} ev/s  (${fTotal.toFixed(2)} s, ${f.steps} steps)`,
        `  overhead KafkaEventLog / raw kafkajs: ${(kTotal / rawTotal).toFixed(2)}x (aim <= 1.5x)`,
      ];
      console.log(lines.join('\n'));
      return {
        events: n, batch, avgEventBytes: bytes / n,
        rawKafkajs: { produceS: raw.produce, consumeS: raw.consume, eventsPerS: n / rawTotal },
        kafkaEventLog: { appendS: k.append, readFoldS: k.fold, eventsPerS: n / kTotal },
        fileEventLog: { appendS: f.append, readFoldS: f.fold, eventsPerS: n / fTotal },
        overheadRatio: kTotal / rawTotal,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
      if (stateDir) {
        await stopLocalBroker(stateDir);
        rmSync(stateDir, { recursive: true, force: true });
      }
    }
  },
};
