import type { IHeaders, Message } from 'kafkajs';

/** Where a dead-lettered record came from. */
export interface DeadLetterOrigin {
  topic: string;
  partition: number;
  offset: string;
}

/** Header names of a dead-letter record (values are UTF-8 strings). */
export const deadLetterHeaders = {
  error: 'specstream-error',
  topic: 'specstream-origin-topic',
  partition: 'specstream-origin-partition',
  offset: 'specstream-origin-offset',
  key: 'specstream-origin-key',
} as const;

/**
 * Builds the dead-letter record for a record no reader could decode.
 *
 * 1. The original value is kept byte for byte as the value (nothing is lost: it can be fixed
 *    and re-appended).
 * 2. The error message and the origin (topic, partition, offset, original key) go in headers.
 * 3. The key is `<topic>/<partition>/<offset>`: every reader that meets the same bad record
 *    writes the same key, so consumers of the dead-letter topic can drop repeats (and a
 *    compacted dead-letter topic keeps one copy).
 */
export function deadLetterMessage(
  origin: DeadLetterOrigin,
  value: Buffer | null,
  key: Buffer | null,
  error: unknown,
): Message {
  const headers: IHeaders = {
    [deadLetterHeaders.error]: error instanceof Error ? error.message : String(error),
    [deadLetterHeaders.topic]: origin.topic,
    [deadLetterHeaders.partition]: String(origin.partition),
    [deadLetterHeaders.offset]: origin.offset,
  };
  if (key) headers[deadLetterHeaders.key] = key.toString('utf8');
  return { key: `${origin.topic}/${origin.partition}/${origin.offset}`, value, headers };
}

/** Reads a dead-letter record's headers back (tests, tooling). */
export function readDeadLetter(headers: IHeaders | undefined): { error: string } & DeadLetterOrigin {
  const get = (name: string): string => {
    const v = headers?.[name];
    if (v === undefined) throw new Error(`dead-letter record has no header ${name}`);
    return Buffer.isBuffer(v) ? v.toString('utf8') : Array.isArray(v) ? String(v[0]) : String(v);
  };
  return {
    error: get(deadLetterHeaders.error),
    topic: get(deadLetterHeaders.topic),
    partition: Number(get(deadLetterHeaders.partition)),
    offset: get(deadLetterHeaders.offset),
  };
}
