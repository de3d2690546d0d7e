import { resolve } from 'node:path';
import { Kafka, Partitioners, logLevel, type Consumer, type EachBatchPayload, type Message, type Producer } from 'kafkajs';
import { decodeEvent, encodeEvent } from '../../events/codec.js';
import { createEventFactory } from '../../events/factory.js';
import type { RolloutRequested, SpecstreamEvent } from '../../events/index.js';
import type { Decoder, Device } from '../../gpu/runtime/Decoder.js';
import { loadDecoder } from '../../gpu/runtime/loadDecoder.js';
import { KafkaEventLog } from '../log/KafkaEventLog.js';
import { deadLetterMessage } from '../log/kafka/deadLetter.js';
import { specstreamLogCreator } from '../log/kafka/logging.js';
import { deadLetterTopic, defaultTopology, route, topicName } from '../log/kafka/topics.js';
import { loadRunDrafter } from './drafters.js';
import { RolloutBatcher } from './rolloutBatcher.js';
import { RunControl } from './runControl.js';
import { AdaptiveK } from '../../gpu/speculative/adaptiveK.js';

export interface GenerationWorkerOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: string[];
  /** The run's topic prefix (`<topicPrefix>.<runId>`, what `specstream train` prints as kafka://…/<prefix>). */
  readonly prefix: string;
  /** This worker's id: the `source` of its events and the suffix of its transactional id. */
  readonly id: string;
  /** Overrides the run config's `model.device`. */
  readonly device?: Device;
  /** Consumer-group timeouts in ms (defaults: session 30 000, heartbeat 3 000, rebalance 60 000). */
  readonly sessionTimeout?: number;
  readonly heartbeatInterval?: number;
  readonly rebalanceTimeout?: number;
  /** Broker-side timeout of an open transaction in ms (default 60 000). */
  readonly transactionTimeout?: number;
  /** Request partitions processed at once (their requests share one continuous batch; default 6). */
  readonly concurrency?: number;
  readonly onProgress?: (line: string) => void;
  /**
   * Fault drill: keep the first transaction open this long after its events were sent and
   * before its offsets and commit (kill the worker in that window to see the output vanish).
   */
  readonly holdFirstTransactionMs?: number;
  /** Stops the worker (SIGINT/SIGTERM in the CLI). */
  readonly signal?: AbortSignal;
}

export interface GenerationWorkerSummary {
  /** Request batches whose output and offsets were committed in one transaction. */
  readonly batches: number;
  readonly rollouts: number;
  /** Batches generated but not committed because the partition was no longer this worker's. */
  readonly abandoned: number;
  readonly deadLetters: number;
}

/** A heartbeat error that means this member is out of the group (its partitions are someone else's). */
const lostMembership = (err: unknown): boolean => isKafkaError(err) && (err as { type?: string }).type !== 'REBALANCE_IN_PROGRESS';

/** kafkajs' errors (its classes are not named exports of its CommonJS module under ESM). */
const isKafkaError = (err: unknown): boolean => err instanceof Error && err.name.startsWith('KafkaJS');

/**
 * A generation worker of a run on Kafka (`specstream worker`): consume-generate-produce with
 * exactly-once output.
 *
 * 1. Follows the run's `training` and `weights` topics (`RunControl`): the run config from
 *    `RunStarted` (drafter, k, batch size; models loaded on this machine), each step's weights
 *    version from `StepStarted`, checkpoint uris from `WeightsPublished`.
 * 2. Joins the consumer group `<prefix>.generation` on `<prefix>.requests` (read committed).
 *    Kafka gives each partition (a set of prompts' groups) to one member.
 * 3. Per fetched batch of a partition: decodes the records (undecodable ones become dead
 *    letters, written in the same transaction); for each step, makes sure the policy is at the
 *    version its `StepStarted` names (waiting for in-flight generation to drain, then loading
 *    the checkpoint `WeightsPublished` points to; version 0 = `model.policy`); generates the
 *    requests in the shared continuous batch (`RolloutBatcher`), heartbeating meanwhile.
 * 4. In one Kafka transaction (transactional id `<prefix>.generation.<id>`, idempotent, one
 *    request in flight): the batch's `DraftVerified`/`RolloutCompleted` events, its dead
 *    letters, and the consumed offsets (`sendOffsets`). Commit. A worker that dies before the
 *    commit leaves nothing visible to read-committed readers and no offsets: the partition's
 *    next owner regenerates the batch. A worker restarted under the same id fences its old
 *    self (the broker aborts the old open transaction at once).
 * 5. A batch whose partition was taken away meanwhile (heartbeat says this member left the
 *    group) is not committed. Exits when the run's last step has completed, or on `signal`.
 */
export async function runGenerationWorker(o: GenerationWorkerOptions): Promise<GenerationWorkerSummary> {
  const say = o.onProgress ?? (() => undefined);
  const topology = defaultTopology(o.prefix);
  const where = `kafka://${o.brokers.join(',')}/${o.prefix}`;
  const controlLog = new KafkaEventLog({ brokers: o.brokers, topology, readRoles: ['training', 'weights'], clientId: `specstream-${o.id}` });
  await controlLog.connect();
  const control = new RunControl(controlLog, where);
  const counts = { batches: 0, rollouts: 0, abandoned: 0, deadLetters: 0 };
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  const releases: Array<() => Promise<void>> = [];
  try {
    say(`waiting for the run's RunStarted in ${topicName(topology, 'training')}`);
    await control.waitFor(
      () => control.config !== undefined,
      (ms) => say(`no RunStarted after ${Math.round(ms / 1000)} s: start the run with \`specstream train\` (log.kind "kafka", generation "workers"; its topic prefix must be ${o.prefix})`),
      10_000,
      o.signal,
    );
    const config = control.config!;
    const runId = control.runId!;
    const device = o.device ?? config.model.device;
    const basePath = resolve(config.model.policy);
    say(`run ${runId}: loading policy ${basePath} (v0) on ${device}, drafter ${config.speculative.drafter} (k=${config.speculative.k})`);
    // The CLI relaunches its other compute commands with this flag on a CPU; a worker is left as
    // started (killed with -9 it must stop at once, with no process in between: docs/cpu.md).
    if (device === 'cpu' && !process.execArgv.includes('--single-threaded-gc')) {
      say("hint: on a CPU, start workers as `node --single-threaded-gc dist/cli/main.js worker …` — without it V8's GC threads compete with ONNX Runtime's for the cores (decoding 1.3–1.5× slower at batch 8–64; docs/cpu.md)");
    }
    const base = await loadDecoder(basePath, { device });
    releases.push(() => base.release());
    const tokenizer = base.tokenizer;
    const drafts = await loadRunDrafter(config, device, base);
    if (drafts.draftDecoder) releases.push(() => drafts.draftDecoder!.release());
    const events = createEventFactory({ runId, source: o.id });

    // --- the policy and its shared continuous batch, swapped between weight versions ---
    let version = 0;
    let policy: Decoder = base;
    // Adaptive k's measurements outlive a weights version (same shapes, same device).
    const adaptiveK = drafts.drafter && config.speculative.k === 'auto' ? new AdaptiveK({ kMax: config.speculative.kMax }) : undefined;
    const batcherFor = (target: Decoder, weightsVersion: number) =>
      new RolloutBatcher({
        target,
        drafter: drafts.drafter,
        k: drafts.drafter ? config.speculative.k : 0,
        kMax: config.speculative.kMax,
        ...(adaptiveK ? { adaptiveK } : {}),
        maxBatchSize: config.speculative.maxBatch,
        ...(config.speculative.minJoin !== undefined ? { minJoin: config.speculative.minJoin } : {}),
        events,
        weightsVersion,
        ...(tokenizer ? { decode: (ids: readonly number[]) => tokenizer.decode([...ids]) } : {}),
      });
    let batcher = batcherFor(policy, version);
    const inFlight = new Set<Promise<unknown>>();
    releases.push(async () => {
      await batcher.close();
      if (policy !== base) await policy.release();
    });
    let lock: Promise<unknown> = Promise.resolve();
    /** Runs `fn` after every earlier call has finished (policy swaps and transactions are one at a time). */
    const serial = <T>(fn: () => Promise<T>): Promise<T> => {
      const next = lock.then(fn);
      lock = next.catch(() => undefined);
      return next;
    };
    const ensureVersion = async (wanted: number): Promise<void> => {
      if (version === wanted) return;
      await Promise.allSettled([...inFlight]);
      await control.waitFor(
        () => wanted === 0 || control.policyUri.has(wanted),
        (ms) => say(`waiting ${Math.round(ms / 1000)} s for WeightsPublished of policy v${wanted}`),
        10_000,
        o.signal,
      );
      const uri = wanted === 0 ? basePath : control.policyUri.get(wanted)!;
      say(`loading policy v${wanted} from ${uri}`);
      const next = wanted === 0 ? base : await loadDecoder(uri, { device });
      await batcher.close();
      if (policy !== base) await policy.release();
      policy = next;
      version = wanted;
      batcher = batcherFor(policy, version);
    };
    const generate = (step: number, requests: RolloutRequested[]) =>
      serial(async () => {
        await control.waitFor(
          () => control.stepVersion.has(step),
          (ms) => say(`waiting ${Math.round(ms / 1000)} s for StepStarted of step ${step}`),
          10_000,
          o.signal,
        );
        await ensureVersion(control.stepVersion.get(step)!);
        const job = batcher.submit(requests);
        inFlight.add(job);
        void job.finally(() => inFlight.delete(job)).catch(() => undefined);
        return { job };
      }).then(({ job }) => job);

    // --- Kafka: a transactional producer and the generation consumer group ---
    const kafka = new Kafka({
      clientId: `specstream-${o.id}`,
      brokers: o.brokers,
      logCreator: specstreamLogCreator(logLevel.ERROR),
      retry: { initialRetryTime: 200, maxRetryTime: 3_000, retries: 30 },
    });
    const groupId = `${o.prefix}.generation`;
    const requestsTopic = topicName(topology, 'requests');
    producer = kafka.producer({
      transactionalId: `${o.prefix}.generation.${o.id}`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: o.transactionTimeout ?? 60_000,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    let fatal: unknown;
    consumer = kafka.consumer({
      groupId,
      sessionTimeout: o.sessionTimeout ?? 30_000,
      heartbeatInterval: o.heartbeatInterval ?? 3_000,
      rebalanceTimeout: o.rebalanceTimeout ?? 60_000,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
      readUncommitted: false,
      retry: { initialRetryTime: 200, maxRetryTime: 3_000, retries: 30, restartOnFailure: async () => fatal === undefined },
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const parts = e.payload.memberAssignment[requestsTopic] ?? [];
      say(`joined group ${groupId}: partitions [${[...parts].sort((a, b) => a - b).join(',')}] of ${requestsTopic}`);
    });
    const crashed = new Promise<never>((_, reject) => {
      consumer!.on(consumer!.events.CRASH, (e) => {
        if (!e.payload.restart) reject(fatal ?? e.payload.error);
      });
    });
    crashed.catch(() => undefined);
    await consumer.connect();
    await consumer.subscribe({ topic: requestsTopic, fromBeginning: true });
    const txProducer = producer;

    const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
      if (batch.messages.length === 0) return;
      const requests: RolloutRequested[] = [];
      const deadLetters: Message[] = [];
      for (const m of batch.messages) {
        const origin = { topic: batch.topic, partition: batch.partition, offset: m.offset };
        try {
          if (!m.value) throw new Error('record has no value');
          const e = decodeEvent(m.value, origin);
          if (e.type !== 'RolloutRequested') throw new Error(`expected RolloutRequested on ${batch.topic}, received ${e.type} (event ${e.id})`);
          requests.push(e);
        } catch (err) {
          say(`dead letter ${batch.topic}/${batch.partition}/${m.offset}: ${err instanceof Error ? err.message : String(err)}`);
          deadLetters.push(deadLetterMessage(origin, m.value, m.key, err));
        }
      }
      // Stay in the group while generating; a heartbeat that says we left it voids the batch.
      let lost: unknown;
      const beat = setInterval(() => {
        heartbeat().catch((err: unknown) => {
          if (lostMembership(err)) lost ??= err;
        });
      }, Math.max(100, Math.floor((o.heartbeatInterval ?? 3_000) / 2)));
      const out: SpecstreamEvent[] = [];
      try {
        const steps = [...new Set(requests.map((r) => r.step))].sort((a, b) => a - b);
        for (const step of steps) {
          const todo = requests.filter((r) => r.step === step && !control.completedSteps.has(step));
          out.push(...(await generate(step, todo)));
        }
      } finally {
        clearInterval(beat);
      }
      const next = (BigInt(batch.lastOffset()) + 1n).toString();
      const range = `${batch.topic}/${batch.partition} offsets ${batch.firstOffset()}..${batch.lastOffset()}`;
      if (lost !== undefined || !isRunning() || isStale()) {
        counts.abandoned++;
        say(`not committing ${range}: ${lost !== undefined ? `left the group (${String(lost)})` : 'partition revoked or worker stopping'}; its next owner regenerates it`);
        return;
      }
      await serial(async () => {
        const topicMessages = new Map<string, Message[]>();
        for (const e of out) {
          const { topic, key } = route(topology, e);
          topicMessages.set(topic, [...(topicMessages.get(topic) ?? []), { key, value: encodeEvent(e), headers: { 'specstream-type': e.type } }]);
        }
        if (deadLetters.length) topicMessages.set(deadLetterTopic(topology), deadLetters);
        const txn = await txProducer.transaction();
        try {
          if (topicMessages.size) await txn.sendBatch({ topicMessages: [...topicMessages].map(([topic, messages]) => ({ topic, messages })) });
          if (o.holdFirstTransactionMs && counts.batches === 0) {
            say(`fault drill: holding the transaction of ${range} open for ${o.holdFirstTransactionMs} ms (${out.length} events sent, not committed)`);
            await new Promise((r) => setTimeout(r, o.holdFirstTransactionMs));
          }
          await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
          await txn.commit();
        } catch (err) {
          await txn.abort().catch((abortErr: unknown) => say(`abort after a failed commit failed too: ${String(abortErr)}`));
          throw err;
        }
      });
      resolveOffset(batch.lastOffset());
      const done = out.filter((e) => e.type === 'RolloutCompleted').length;
      counts.batches++;
      counts.rollouts += done;
      counts.deadLetters += deadLetters.length;
      say(`committed ${range}: ${done} rollouts (steps ${[...new Set(requests.map((r) => r.step))].join(',')}, policy v${version})`);
    };

    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.concurrency ?? 6,
      eachBatch: async (payload) => {
        try {
          await eachBatch(payload);
        } catch (err) {
          // Kafka errors are retried by kafkajs (the batch is consumed again); ours are fatal.
          if (!isKafkaError(err)) fatal ??= err;
          throw err;
        }
      },
    });
    await Promise.race([control.waitFor(() => control.runComplete, undefined, undefined, o.signal), crashed]);
    say(`run ${runId} complete: ${counts.rollouts} rollouts in ${counts.batches} committed batches`);
    return counts;
  } finally {
    await consumer?.disconnect().catch((err: unknown) => say(`disconnecting the consumer failed: ${String(err)}`));
    await producer?.disconnect().catch((err: unknown) => say(`disconnecting the producer failed: ${String(err)}`));
    control.close();
    await controlLog.close();
    for (const r of releases.reverse()) await r();
  }
}
