import type { LogPosition, Positioned } from './EventLog.js';

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

/**
 * The follow side of the index-positioned logs: passes each entry on at most once, in index
 * order, dropping those below the next expected index (a live append the backlog already had,
 * or a re-read). `next` is where a re-read should start.
 */
export class IndexGate {
  constructor(
    public next: number,
    private readonly emit: (p: Positioned) => void,
  ) {}

  readonly push = (p: Positioned): void => {
    const idx = Number(p.position);
    if (idx < this.next) return;
    this.next = idx + 1;
    this.emit(p);
  };
}
