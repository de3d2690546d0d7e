import { Observable, Subject } from 'rxjs';
import type { SpecstreamEvent } from '../../events/index.js';
import type { EventLog, LogPosition, Positioned } from './EventLog.js';
import { IndexGate, parseIndexPosition } from './position.js';

/**
 * The in-memory twin of the file log (Emmett: every store has one), for unit tests and for
 * single-process runs that need no log on disk. Positions are the event's global index as a
 * decimal string, exactly as in the file log.
 *
 * Appends are synchronous under the hood, so a batch is always seen whole by readers.
 */
export class MemoryEventLog implements EventLog {
  private readonly entries: Positioned[] = [];
  private readonly appended = new Subject<readonly Positioned[]>();
  private closed = false;

  /** Appends the batch; positions are consecutive global indexes. */
  async append(events: readonly SpecstreamEvent[]): Promise<LogPosition[]> {
    if (this.closed) throw new Error('MemoryEventLog.append: the log is closed');
    const batch: Positioned[] = events.map((event, i) => ({ event, position: String(this.entries.length + i) }));
    for (const p of batch) this.entries.push(p);
    if (batch.length > 0) this.appended.next(batch);
    return batch.map((p) => p.position);
  }

  /** Emits the entries from `from` up to the end as of subscription, then completes. */
  read(from?: LogPosition): Observable<Positioned> {
    return new Observable<Positioned>((subscriber) => {
      const start = parseIndexPosition(from, 'MemoryEventLog.read');
      const end = this.entries.length;
      for (let i = start; i < end && !subscriber.closed; i++) subscriber.next(this.entries[i]!);
      subscriber.complete();
    });
  }

  /**
   * Emits the entries from `from`, then every later append, until unsubscribed or closed.
   * The live subscription is taken before the backlog is emitted, and live entries below the
   * backlog's end are skipped, so nothing is missed or emitted twice.
   */
  follow(from?: LogPosition): Observable<Positioned> {
    return new Observable<Positioned>((subscriber) => {
      const start = parseIndexPosition(from, 'MemoryEventLog.follow');
      const emit = new IndexGate(start, (p) => subscriber.next(p)).push;
      const live = this.appended.subscribe({
        next: (batch) => batch.forEach(emit),
        complete: () => subscriber.complete(),
      });
      for (let i = start; i < this.entries.length && !subscriber.closed; i++) emit(this.entries[i]!);
      return () => live.unsubscribe();
    });
  }

  /** Completes every `follow` subscription; later appends are refused. */
  async close(): Promise<void> {
    this.closed = true;
    this.appended.complete();
  }
}
