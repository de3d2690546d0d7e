/**
 * Where a raw event came from, for error messages: a file and byte offset (file log), or a
 * Kafka topic, partition and offset.
 */
export interface DecodeOrigin {
  file?: string;
  offset?: number | string;
  topic?: string;
  partition?: number;
}

/** Renders an origin as `file <f> at byte <o>` or `topic <t> partition <p> offset <o>`. */
export function describeOrigin(origin: DecodeOrigin): string {
  if (origin.topic !== undefined) {
    return `topic ${origin.topic} partition ${origin.partition ?? '?'} offset ${origin.offset ?? '?'}`;
  }
  if (origin.file !== undefined) return `file ${origin.file} at byte ${origin.offset ?? '?'}`;
  if (origin.offset !== undefined) return `offset ${origin.offset}`;
  return 'an unnamed source';
}

/**
 * An event read from outside the process could not be decoded: bad JSON, an envelope or data
 * field that fails its schema, an unknown type or version. The message names the field path
 * (`data.accepted`), the event id and type when readable, the origin, and expected vs received.
 */
export class EventDecodeError extends Error {
  override readonly name = 'EventDecodeError';
  constructor(
    /** Dotted path of the offending field (`data.accepted`); '' for the whole record. */
    readonly path: string,
    /** What is wrong, with expected vs received. */
    readonly reason: string,
    readonly origin: DecodeOrigin,
    /** The event id, when the record had a readable one. */
    readonly eventId?: string,
    readonly eventType?: string,
  ) {
    const what = eventId ? `event ${eventId}${eventType ? ` (${eventType})` : ''}` : 'event (id unreadable)';
    super(`cannot decode ${what} from ${describeOrigin(origin)}: ${path ? `${path}: ` : ''}${reason}`);
  }
}
