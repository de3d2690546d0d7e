import type { Observable } from 'rxjs';
import type { SpecstreamEvent } from '../../events/index.js';

/**
 * An opaque, serialisable position in a log. Each implementation documents its form
 * (file log: the event's global index as a decimal string; Kafka: a cursor over partitions).
 * `read(from)` starts *at* `from` (inclusive); positions returned by `append` can be passed back.
 */
export type LogPosition = string;

export type Positioned<E = SpecstreamEvent> = Readonly<{ event: E; position: LogPosition }>;

/**
 * The event log: the pipeline's only shared state. Implementations: in-memory (tests),
 * file (embedded default), Kafka (production). All pass the same contract tests.
 */
export interface EventLog {
  /** Appends a batch atomically with respect to readers; resolves once durable per policy. */
  append(events: readonly SpecstreamEvent[]): Promise<LogPosition[]>;
  /** Everything from `from` (default: the beginning) up to the end as of subscription; completes. */
  read(from?: LogPosition): Observable<Positioned>;
  /** Like `read`, then keeps emitting events appended later; never completes on its own. */
  follow(from?: LogPosition): Observable<Positioned>;
  close(): Promise<void>;
}
