import type { LogPosition } from './EventLog.js';

/**
 * Parses an index position (the memory and file logs' form: the event's global index as a
 * decimal string). Undefined means the beginning. Throws naming the caller and the received
 * value when the position is not a non-negative integer.
 */
export function parseIndexPosition(from: LogPosition | undefined, where: string): number {
  if (from === undefined) return 0;
  if (!/^(0|[1-9][0-9]*)$/.test(from)) {
    throw new Error(`${where}: position must be a non-negative decimal integer, received ${JSON.stringify(from)}`);
  }
  const n = Number(from);
  if (!Number.isSafeInteger(n)) throw new Error(`${where}: position ${from} is out of range`);
  return n;
}
