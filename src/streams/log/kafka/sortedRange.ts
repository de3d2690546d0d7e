import type { SpecstreamEvent } from '../../../events/index.js';
import { compareKafkaPositions, type KafkaPosition } from './position.js';

/** One decoded record of the Kafka log. */
export interface KafkaEntry {
  position: KafkaPosition;
  event: SpecstreamEvent;
}

/** Offsets to read in one partition: [start, end). */
export interface PartitionRange {
  topic: string;
  partition: number;
  start: bigint;
  end: bigint;
}

/**
 * Collects the records of a set of partition ranges as they arrive (in any interleaving of
 * partitions, with repeats after a seek or rebalance) and hands them back in the log's order.
 *
 * 1. A record below its partition's next expected offset is a repeat and ignored; otherwise
 *    it advances that partition (a dead-lettered record advances it too, with no entry).
 * 2. Records inside [start, end) whose order key is ≥ `from` are kept; records at or past
 *    `end` are kept apart as the live tail (they arrived after the range was fixed).
 * 3. `complete` is true once every partition has reached its end; `takeSorted` then returns the
 *    range sorted by order key (event id, topic, partition, offset), identical for every reader.
 */
export class SortedRange {
  private readonly next = new Map<string, { next: bigint; end: bigint }>();
  private readonly inRange: KafkaEntry[] = [];
  private readonly tail: KafkaEntry[] = [];
  private pending: number;

  constructor(
    ranges: readonly PartitionRange[],
    private readonly from?: KafkaPosition,
  ) {
    for (const r of ranges) this.next.set(`${r.topic}/${r.partition}`, { next: r.start, end: r.end });
    this.pending = ranges.filter((r) => r.start < r.end).length;
  }

  /** Offset the reader should seek each partition to. */
  starts(): Array<{ topic: string; partition: number; offset: string }> {
    return [...this.next.entries()].map(([k, v]) => {
      const slash = k.lastIndexOf('/');
      return { topic: k.slice(0, slash), partition: Number(k.slice(slash + 1)), offset: String(v.next) };
    });
  }

  /**
   * Accepts one record; `entry` undefined means it was dead-lettered. Returns false for a
   * repeat (already seen) or a partition outside the ranges.
   */
  accept(topic: string, partition: number, offset: bigint, entry: KafkaEntry | undefined): boolean {
    const p = this.next.get(`${topic}/${partition}`);
    if (!p || offset < p.next) return false;
    const wasOpen = p.next < p.end;
    p.next = offset + 1n;
    if (wasOpen && p.next >= p.end) this.pending--;
    if (!entry) return true;
    if (offset >= p.end) this.tail.push(entry);
    else if (!this.from || compareKafkaPositions(entry.position, this.from) >= 0) this.inRange.push(entry);
    return true;
  }

  /** Whether the record at `offset` of that partition would be accepted (not a repeat). */
  wants(topic: string, partition: number, offset: bigint): boolean {
    const p = this.next.get(`${topic}/${partition}`);
    return p !== undefined && offset >= p.next;
  }

  /** Marks a partition as advanced to `next` with nothing to deliver (control records, compaction). */
  skipTo(topic: string, partition: number, next: bigint): void {
    const p = this.next.get(`${topic}/${partition}`);
    if (!p || next <= p.next) return;
    const wasOpen = p.next < p.end;
    p.next = next;
    if (wasOpen && p.next >= p.end) this.pending--;
  }

  get complete(): boolean {
    return this.pending === 0;
  }

  /** The range in the log's order, and the live tail that arrived with it (in arrival order). */
  takeSorted(): { range: KafkaEntry[]; tail: KafkaEntry[] } {
    const range = this.inRange.splice(0).sort((a, b) => compareKafkaPositions(a.position, b.position));
    return { range, tail: this.tail.splice(0) };
  }
}
