import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel, type Admin, type Consumer, type KafkaMessage, type Message, type PartitionMetadata, type Producer } from 'kafkajs';
import { Observable, type Subscriber } from 'rxjs';
import { decodeEvent, encodeEvent } from '../../events/codec.js';
import type { SpecstreamEvent } from '../../events/index.js';
import type { EventLog, LogPosition, Positioned } from './EventLog.js';
import { deadLetterMessage } from './kafka/deadLetter.js';
import { LiveReorder } from './kafka/liveReorder.js';
import { specstreamLogCreator } from './kafka/logging.js';
import { formatKafkaPosition, parseKafkaPosition, type KafkaPosition } from './kafka/position.js';
import { SortedRange, type KafkaEntry, type PartitionRange } from './kafka/sortedRange.js';
import { deadLetterTopic, defaultTopology, route, topicName, topicRoles, type KafkaTopology, type TopicRole } from './kafka/topics.js';

export interface KafkaEventLogOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  clientId?: string;
  /** Topic prefix, partitions, replication (default: `defaultTopology()`). */
  topology?: KafkaTopology;
  /** How long `follow` holds live records to restore each source's order (default 200 ms). */
  liveReorderMs?: number;
  /** kafkajs log level (default ERROR; retriable protocol errors are never printed). */
  logLevel?: logLevel;
  /** Most bytes of encoded events per produce request (default 512 KiB, under Kafka's 1 MiB). */
  maxRequestBytes?: number;
  /**
   * The topics `read`/`follow` read (default: all). A generation worker follows only
   * `training` and `weights` (run config, steps, weight versions), not every rollout event.
   */
  readRoles?: readonly TopicRole[];
  /** Called after a record was written to the dead-letter topic. */
  onDeadLetter?: (info: { topic: string; partition: number; offset: string; error: string }) => void;
  /**
   * Retries of a reader's consumer before kafkajs restarts it (default: 30 retries, 200 ms
   * doubling to 3 s: tens of seconds of broker outage). A restarted reader resumes where it
   * stopped; `onReaderRestart` is told.
   */
  readerRetry?: { retries?: number; initialRetryTime?: number; maxRetryTime?: number };
  /** Called when kafkajs restarts a `read`/`follow` consumer after a retriable crash. */
  onReaderRestart?: (info: { error: string }) => void;
}

/**
 * The event log on Apache Kafka (kafkajs). Same `EventLog` contract as the file log.
 *
 * - Topics: `<prefix>.requests|rollout-events|results|training|weights` by event type, keyed so
 *   a prompt's group and a sequence's events each stay on one partition (`kafka/topics.ts`);
 *   created on first use. Undecodable records go to `<prefix>.dead-letter` (`kafka/deadLetter.ts`).
 * - Appends: one idempotent producer (acks = all, retries across broker restarts without
 *   duplicates); partitions are chosen here with kafkajs' Java-compatible partitioner so each
 *   event's offset is known from the acknowledgement.
 * - Order and positions: readers merge partitions by event id (`kafka/position.ts`); a position
 *   is `<topic>/<partition>/<offset>/<eventId>`.
 * - `read(from)`: fixes the end offsets of every partition at subscription, reads up to them
 *   with a throw-away consumer group, and emits the range sorted; `follow` then emits later
 *   records through a short reorder window (`kafka/liveReorder.ts`).
 *
 * A batch is written in one produce request per broker (one record batch per partition), but
 * Kafka has no atomic write across partitions: a reader racing an append may see part of it.
 */
export class KafkaEventLog implements EventLog {
  private readonly kafka: Kafka;
  private readonly topology: KafkaTopology;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly consumers = new Set<Consumer>();
  private readonly followers = new Set<Subscriber<Positioned>>();
  private ready: Promise<Map<string, PartitionMetadata[]>> | undefined;
  /** Appends wait for end offsets being fixed by reads subscribed before them. */
  /** The last request sent (requests go one at a time: `sendChunk`). */
  private sending: Promise<unknown> = Promise.resolve();
  private barrier: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: KafkaEventLogOptions) {
    if (options.brokers.length === 0) throw new Error('KafkaEventLog: options.brokers is empty (expected host:port)');
    this.topology = options.topology ?? defaultTopology();
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'specstream',
      brokers: options.brokers,
      logCreator: specstreamLogCreator(options.logLevel ?? logLevel.ERROR),
      // Enough to ride out a broker restart (tens of seconds) inside kafkajs, whose retries of an
      // idempotent send reuse its sequence numbers, so the broker drops what it already has.
      retry: { initialRetryTime: 200, maxRetryTime: 3_000, retries: 30 },
    });
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.admin = this.kafka.admin();
  }

  /** The topics this log reads, in a stable order. */
  get topics(): string[] {
    const roles = this.options.readRoles ?? topicRoles;
    return topicRoles.filter((r) => roles.includes(r)).map((r) => topicName(this.topology, r));
  }

  /** The dead-letter topic of this log. */
  get deadLetterTopic(): string {
    return deadLetterTopic(this.topology);
  }

  /**
   * Connects producer and admin and creates the topics that do not exist yet (once); resolves
   * to the partitions of every topic (their count decides each key's partition).
   */
  connect(): Promise<Map<string, PartitionMetadata[]>> {
    this.ready ??= (async () => {
      await Promise.all([this.producer.connect(), this.admin.connect()]);
      const wanted = topicRoles.map((role) => ({
        topic: topicName(this.topology, role),
        numPartitions: this.topology.partitions[role],
        replicationFactor: this.topology.replicationFactor,
      }));
      wanted.push({ topic: this.deadLetterTopic, numPartitions: 1, replicationFactor: this.topology.replicationFactor });
      await this.admin.createTopics({ topics: wanted, waitForLeaders: true });
      // createTopics waits for leaders only of the topics it created itself: topics another
      // client (a generation worker, another reader) created a moment ago may have none yet.
      const names = topicRoles.map((r) => topicName(this.topology, r));
      for (let attempt = 0; ; attempt++) {
        const meta = await this.admin.fetchTopicMetadata({ topics: names });
        const leaderless = meta.topics.flatMap((t) => t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`));
        if (leaderless.length === 0) return new Map(meta.topics.map((t) => [t.name, t.partitions]));
        if (attempt >= 100) throw new Error(`KafkaEventLog.connect: no leader after 10 s for ${leaderless.join(', ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return this.ready;
  }

  /**
   * Appends events; resolves with their positions once the broker acknowledged them (acks = all).
   *
   * 1. Wait for topics, and for reads subscribed earlier to fix their end offsets.
   * 2. Encode each event, route it to its topic and key, pick its partition (murmur2 of the key).
   * 3. Send in requests of at most `maxRequestBytes`; in a request, the n-th message of a
   *    partition lands at the acknowledged base offset + n, which gives each event's position.
   */
  async append(events: readonly SpecstreamEvent[]): Promise<LogPosition[]> {
    if (this.closed) throw new Error('KafkaEventLog.append: the log is closed');
    if (events.length === 0) return [];
    const partitions = await this.connect();
    await this.barrier;
    const positions: LogPosition[] = new Array(events.length);
    const maxBytes = this.options.maxRequestBytes ?? 512 * 1024;
    let chunk: Array<{ index: number; topic: string; message: Message }> = [];
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const { topic, key } = route(this.topology, event);
      const value = encodeEvent(event);
      const partitionMetadata = partitions.get(topic);
      if (partitionMetadata === undefined) throw new Error(`KafkaEventLog.append: topic ${topic} has no metadata`);
      const message: Message = { key, value, headers: { 'specstream-type': event.type } };
      message.partition = this.partitioner({ topic, message, partitionMetadata });
      if (chunk.length > 0 && bytes + value.length > maxBytes) {
        await this.sendChunk(chunk, events, positions);
        chunk = [];
        bytes = 0;
      }
      chunk.push({ index: i, topic, message });
      bytes += value.length + key.length;
    }
    await this.sendChunk(chunk, events, positions);
    return positions;
  }

  /**
   * Sends one request after every request sent before it has settled. kafkajs numbers an
   * idempotent producer's batches per partition when it sends them; two appends in flight at
   * once through the shared producer, both retried across a broker restart, came back
   * acknowledged while one batch was in the log twice and another not at all (the fault test:
   * "missing 8, doubled 8" in about one run of three). One request at a time keeps the
   * sequence numbers and the log in step.
   */
  private sendChunk(
    chunk: ReadonlyArray<{ index: number; topic: string; message: Message }>,
    events: readonly SpecstreamEvent[],
    positions: LogPosition[],
  ): Promise<void> {
    const sent = this.sending.then(() => this.sendNow(chunk, events, positions));
    this.sending = sent.catch(() => undefined);
    return sent;
  }

  private async sendNow(
    chunk: ReadonlyArray<{ index: number; topic: string; message: Message }>,
    events: readonly SpecstreamEvent[],
    positions: LogPosition[],
  ): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const c of chunk) {
      const list = byTopic.get(c.topic) ?? [];
      list.push(c.message);
      byTopic.set(c.topic, list);
    }
    const acks = await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
    const base = new Map(acks.map((a) => [`${a.topicName}/${a.partition}`, BigInt(a.baseOffset ?? '-1')]));
    const seen = new Map<string, bigint>();
    for (const c of chunk) {
      const tp = `${c.topic}/${c.message.partition}`;
      const b = base.get(tp);
      if (b === undefined || b < 0n) throw new Error(`KafkaEventLog.append: no acknowledged offset for ${tp}`);
      const n = seen.get(tp) ?? 0n;
      seen.set(tp, n + 1n);
      const event = events[c.index]!;
      positions[c.index] = formatKafkaPosition({ topic: c.topic, partition: c.message.partition!, offset: b + n, eventId: event.id });
    }
  }

  /** Every event from `from` (inclusive, in the log's order) up to the end at subscription; completes. */
  read(from?: LogPosition): Observable<Positioned> {
    return this.reader(from, false, 'KafkaEventLog.read');
  }

  /** Like `read`, then every later event (through the reorder window); completes on `close`. */
  follow(from?: LogPosition): Observable<Positioned> {
    return this.reader(from, true, 'KafkaEventLog.follow');
  }

  private reader(from: LogPosition | undefined, live: boolean, where: string): Observable<Positioned> {
    return new Observable<Positioned>((subscriber) => {
      if (this.closed) {
        subscriber.error(new Error(`${where}: the log is closed`));
        return undefined;
      }
      let start: KafkaPosition | undefined;
      try {
        start = from === undefined ? undefined : parseKafkaPosition(from, where);
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      const ranges = this.connect().then(() => this.fixRanges(start));
      this.barrier = Promise.all([this.barrier, ranges.catch(() => undefined)]);
      let consumer: Consumer | undefined;
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      if (live) this.followers.add(subscriber);
      const emit = (entries: readonly KafkaEntry[]): void => {
        for (const e of entries) {
          if (subscriber.closed) return;
          subscriber.next({ event: e.event, position: formatKafkaPosition(e.position) });
        }
      };
      const run = async (): Promise<void> => {
        const range = new SortedRange(await ranges, start);
        if (range.complete && !live) {
          subscriber.complete();
          return;
        }
        if (stopped) return;
        const reorder = new LiveReorder(this.options.liveReorderMs ?? 200);
        let backlogDone = false;
        const finishBacklog = (): void => {
          if (backlogDone || !range.complete) return;
          backlogDone = true;
          const { range: sorted, tail } = range.takeSorted();
          emit(sorted);
          if (!live) {
            subscriber.complete();
            return;
          }
          const now = Date.now();
          for (const t of tail) reorder.push(t, now);
          timer = setInterval(() => emit(reorder.take(Date.now())), Math.max(10, (this.options.liveReorderMs ?? 200) / 4));
        };
        finishBacklog();
        if (backlogDone && !live) return;
        consumer = this.kafka.consumer({
          groupId: `${this.topology.prefix}.reader.${randomUUID()}`,
          allowAutoTopicCreation: false,
          maxWaitTimeInMs: 100,
          // The group has this one member and no offsets; a short session lets a member that
          // kafkajs restarted after a crash join without waiting 30 s for its dead predecessor
          // (still a member of the group the broker kept) to time out. 6 s is the broker's
          // minimum (group.min.session.timeout.ms).
          sessionTimeout: 6_000,
          rebalanceTimeout: 6_000,
          retry: { initialRetryTime: 200, maxRetryTime: 3_000, retries: 30, ...this.options.readerRetry },
        });
        this.consumers.add(consumer);
        const c = consumer;
        // kafkajs restarts a consumer after a retriable crash (a broker gone for longer than the
        // retries, a coordinator still loading) with a new group member that knows nothing of
        // the seeks: every join (the first, and each after a restart) seeks each partition to
        // the next offset the range wants, so a restarted reader resumes where it stopped
        // (SortedRange drops anything delivered twice). Seeking inside the join event, before
        // the first fetch, also cannot fail the way a seek after `run()` did when the first
        // join had crashed ("consumer group was not initialized").
        c.on(c.events.GROUP_JOIN, () => {
          if (!stopped) for (const s of range.starts()) c.seek(s);
        });
        c.on(c.events.CRASH, (e) => {
          if (!e.payload.restart) subscriber.error(e.payload.error);
          else this.options.onReaderRestart?.({ error: e.payload.error instanceof Error ? e.payload.error.message : String(e.payload.error) });
        });
        await consumer.connect();
        await consumer.subscribe({ topics: this.topics, fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              const offset = BigInt(message.offset);
              if (!range.wants(batch.topic, batch.partition, offset)) continue;
              const entry = await this.decodeOrDeadLetter(batch.topic, batch.partition, message);
              if (backlogDone) {
                range.accept(batch.topic, batch.partition, offset, undefined);
                if (entry) reorder.push(entry, Date.now());
              } else {
                range.accept(batch.topic, batch.partition, offset, entry);
              }
            }
            // Records the broker holds back (transaction markers) still count as read.
            // (`isEmptyIncludingFiltered` exists on kafkajs' Batch but is missing from its types.)
            if (!(batch as unknown as { isEmptyIncludingFiltered(): boolean }).isEmptyIncludingFiltered()) range.skipTo(batch.topic, batch.partition, BigInt(batch.lastOffset()) + 1n);
            finishBacklog();
          },
        });
      };
      run().catch((err: unknown) => subscriber.error(err));
      return () => {
        stopped = true;
        this.followers.delete(subscriber);
        if (timer) clearInterval(timer);
        if (consumer) {
          const c = consumer;
          this.consumers.delete(c);
          c.disconnect().catch(() => undefined);
        }
      };
    });
  }

  /**
   * Fixes what a reader reads: for every partition of every topic, from its first offset
   * (or the position's offset, in the position's own partition) to its high watermark now.
   */
  private async fixRanges(from: KafkaPosition | undefined): Promise<PartitionRange[]> {
    const perTopic = await Promise.all(
      this.topics.map(async (topic) => ({ topic, offsets: await this.topicOffsets(topic) })),
    );
    const ranges: PartitionRange[] = [];
    for (const { topic, offsets } of perTopic) {
      for (const o of offsets) {
        let start = BigInt(o.low);
        if (from && from.topic === topic && from.partition === o.partition && from.offset > start) start = from.offset;
        ranges.push({ topic, partition: o.partition, start, end: BigInt(o.high) });
      }
    }
    return ranges;
  }

  /**
   * `admin.fetchTopicOffsets`, retried while a partition's leader is not serving yet: kafkajs
   * gives up at once on NOT_LEADER_FOR_PARTITION, which a topic another client created a moment
   * ago returns until the broker has applied the new leadership (KRaft), for up to 10 s. On such
   * a topic kafkajs can also get an empty answer to one of its two offset requests and fail with
   * a TypeError of its own ("Cannot destructure property 'partitions' of 'low.pop(...)'", seen
   * once in the workers end-to-end test): retried the same way.
   */
  private async topicOffsets(topic: string): Promise<Array<{ partition: number; high: string; low: string }>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.admin.fetchTopicOffsets(topic);
      } catch (err) {
        const type = (err as { type?: string }).type;
        const transient = type === 'NOT_LEADER_FOR_PARTITION' || type === 'LEADER_NOT_AVAILABLE' || err instanceof TypeError;
        if (attempt >= 50 || !transient) throw err;
        await new Promise((r) => setTimeout(r, 200));
        await this.admin.fetchTopicMetadata({ topics: [topic] }); // the leader may have moved
      }
    }
  }

  /**
   * Decodes one record. A record that fails (bad JSON, schema, unknown type) is written to the
   * dead-letter topic with the error and its origin, and the read goes on past it.
   */
  private async decodeOrDeadLetter(topic: string, partition: number, message: KafkaMessage): Promise<KafkaEntry | undefined> {
    try {
      if (!message.value) throw new Error('record has no value');
      const event = decodeEvent(message.value, { topic, partition, offset: message.offset });
      return { event, position: { topic, partition, offset: BigInt(message.offset), eventId: event.id } };
    } catch (err) {
      const origin = { topic, partition, offset: message.offset };
      await this.producer.send({
        topic: this.deadLetterTopic,
        acks: -1,
        messages: [deadLetterMessage(origin, message.value, message.key, err)],
      });
      this.options.onDeadLetter?.({ ...origin, error: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  }

  /** Completes every `follow`, stops every reader, disconnects producer and admin. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.followers]) s.complete();
    this.followers.clear();
    await Promise.all([...this.consumers].map((c) => c.disconnect()));
    this.consumers.clear();
    if (this.ready) {
      await this.ready.catch(() => undefined);
      await Promise.all([this.producer.disconnect(), this.admin.disconnect()]);
    }
  }
}
