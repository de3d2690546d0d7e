import type { LogPosition } from '../EventLog.js';

/**
 * Where one event is in the Kafka log: its record's topic, partition and offset, plus the
 * event id, which is the log's **order key**. Serialised as `<topic>/<partition>/<offset>/<eventId>`
 * (topic names cannot contain `/`).
 *
 * Kafka orders records only within a partition. The log's readers merge partitions by event id
 * (a ULID: lexically sortable by creation time and strictly increasing per source), ties broken
 * by topic, partition, offset — a total order that every reader computes the same way, in which
 * each source's events keep their creation order. `read(p)` returns the events whose order key is
 * ≥ p's, so the event at `p` comes first.
 */
export interface KafkaPosition {
  topic: string;
  partition: number;
  offset: bigint;
  eventId: string;
}

/** Serialises a position (see `KafkaPosition`). */
export function formatKafkaPosition(p: KafkaPosition): LogPosition {
  return `${p.topic}/${p.partition}/${p.offset}/${p.eventId}`;
}

/**
 * Parses a Kafka log position. Throws naming the received value and the expected form when it is
 * not `<topic>/<partition>/<offset>/<eventId>` (e.g. a file-log index passed to the Kafka log).
 */
export function parseKafkaPosition(raw: LogPosition, where: string): KafkaPosition {
  const m = /^([A-Za-z0-9._-]+)\/(0|[1-9][0-9]*)\/(0|[1-9][0-9]*)\/(.+)$/.exec(raw);
  if (!m) {
    throw new Error(
      `${where}: a Kafka log position has the form <topic>/<partition>/<offset>/<eventId>, received ${JSON.stringify(raw)}`,
    );
  }
  return { topic: m[1]!, partition: Number(m[2]), offset: BigInt(m[3]!), eventId: m[4]! };
}

/** Total order of the Kafka log: event id, then topic, partition, offset. Negative when a < b. */
export function compareKafkaPositions(a: KafkaPosition, b: KafkaPosition): number {
  if (a.eventId !== b.eventId) return a.eventId < b.eventId ? -1 : 1;
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  return a.offset === b.offset ? 0 : a.offset < b.offset ? -1 : 1;
}
