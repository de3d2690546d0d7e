import type { SpecstreamEvent } from './index.js';
import { EventDecodeError, type DecodeOrigin } from './decodeError.js';
import { validateEvent } from './validate.js';

export { EventDecodeError, describeOrigin, type DecodeOrigin } from './decodeError.js';
export { validateEvent } from './validate.js';

/**
 * Encodes an event as one line of JSON (no newline inside: JSON escapes control characters),
 * the wire form of the file log and of Kafka message values.
 */
export function encodeEvent(event: SpecstreamEvent): string {
  return JSON.stringify(event);
}

/**
 * Decodes one encoded event read from outside the process.
 *
 * 1. Bytes are UTF-8 decoded; JSON is parsed (a syntax error names the origin).
 * 2. The value is validated and upcast to the current schema version (`validateEvent`).
 * Throws `EventDecodeError` naming field path, event id and origin (file + byte offset, or
 * topic/partition/offset).
 */
export function decodeEvent(raw: string | Uint8Array, origin: DecodeOrigin = {}): SpecstreamEvent {
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const head = text.length > 60 ? `${text.slice(0, 57)}...` : text;
    throw new EventDecodeError('', `invalid JSON (${(err as Error).message}) in ${JSON.stringify(head)}`, origin);
  }
  return validateEvent(value, origin);
}
