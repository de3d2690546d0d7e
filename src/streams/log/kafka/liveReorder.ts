import { compareKafkaPositions } from './position.js';
import type { KafkaEntry } from './sortedRange.js';

/**
 * The reorder window of `follow`'s live tail. Kafka orders records only within a partition, and
 * one append spreads a source's events over several topics, which a reader may fetch in
 * separate responses. Holding each live record for `windowMs` and releasing in order-key order
 * restores each source's order whenever its events arrive within the window of each other.
 *
 * 1. `push` buffers an entry with its arrival time.
 * 2. `take(now)`: the newest order key among entries older than the window is the cutoff; every
 *    buffered entry at or below the cutoff is released, sorted (a younger entry with a smaller
 *    key goes out first, so it is not overtaken).
 */
export class LiveReorder {
  private buffer: Array<{ entry: KafkaEntry; at: number }> = [];

  constructor(private readonly windowMs: number) {}

  push(entry: KafkaEntry, now: number): void {
    this.buffer.push({ entry, at: now });
  }

  get size(): number {
    return this.buffer.length;
  }

  /** Entries to emit now, in order. */
  take(now: number): KafkaEntry[] {
    let cutoff: KafkaEntry | undefined;
    for (const b of this.buffer) {
      if (now - b.at >= this.windowMs && (!cutoff || compareKafkaPositions(b.entry.position, cutoff.position) > 0)) {
        cutoff = b.entry;
      }
    }
    if (!cutoff) return [];
    const out: KafkaEntry[] = [];
    const keep: Array<{ entry: KafkaEntry; at: number }> = [];
    for (const b of this.buffer) {
      if (compareKafkaPositions(b.entry.position, cutoff.position) <= 0) out.push(b.entry);
      else keep.push(b);
    }
    this.buffer = keep;
    return out.sort((a, b) => compareKafkaPositions(a.position, b.position));
  }
}
