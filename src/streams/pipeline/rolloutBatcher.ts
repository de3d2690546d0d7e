import { Subject, type Subscription } from 'rxjs';
import type { DraftVerified, RolloutCompleted, RolloutRequested } from '../../events/index.js';
import { speculativeDecode, type SpeculativeDecodeOptions } from '../operators/speculativeDecode.js';

type RolloutEvent = DraftVerified | RolloutCompleted;

interface Job {
  readonly events: RolloutEvent[];
  remaining: number;
  readonly resolve: (events: RolloutEvent[]) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * One long-lived `speculativeDecode` stream shared by concurrent callers (a generation worker's
 * partitions): requests submitted at different times join the same continuous batch, and each
 * caller gets back exactly the events of its own requests.
 *
 * 1. `submit(requests)` registers a job, then feeds the requests into the operator's input.
 * 2. Each output event is routed by `requestId` to its job; a job resolves when all of its
 *    requests have their `RolloutCompleted` (its `DraftVerified` events come first, in order).
 * 3. An operator error rejects every pending job and the batcher refuses new work.
 * `close()` completes the input and resolves when the engine has finished and freed its caches.
 */
export class RolloutBatcher {
  private readonly input = new Subject<RolloutRequested>();
  private readonly jobOf = new Map<string, Job>();
  private readonly subscription: Subscription;
  private failure: unknown;
  private readonly finished: Promise<void>;

  constructor(options: SpeculativeDecodeOptions) {
    let done!: () => void;
    this.finished = new Promise<void>((r) => (done = r));
    this.subscription = this.input.pipe(speculativeDecode(options)).subscribe({
      next: (e) => {
        const job = this.jobOf.get(e.data.requestId);
        if (!job) {
          this.fail(new Error(`RolloutBatcher: event ${e.id} (${e.type}) for request ${e.data.requestId}, which no caller submitted`));
          return;
        }
        job.events.push(e);
        if (e.type === 'RolloutCompleted') {
          this.jobOf.delete(e.data.requestId);
          if (--job.remaining === 0) job.resolve(job.events);
        }
      },
      error: (err: unknown) => {
        this.fail(err);
        done();
      },
      complete: () => done(),
    });
  }

  /** Requests still generating. */
  get inFlight(): number {
    return this.jobOf.size;
  }

  /** Generates `requests` in the shared batch; resolves with their events in emission order. */
  submit(requests: readonly RolloutRequested[]): Promise<RolloutEvent[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (requests.length === 0) return Promise.resolve([]);
    return new Promise<RolloutEvent[]>((resolve, reject) => {
      const job: Job = { events: [], remaining: requests.length, resolve, reject };
      for (const r of requests) {
        if (this.jobOf.has(r.data.requestId)) {
          reject(new Error(`RolloutBatcher: request ${r.data.requestId} (event ${r.id}) is already generating`));
          return;
        }
      }
      for (const r of requests) this.jobOf.set(r.data.requestId, job);
      for (const r of requests) this.input.next(r);
    });
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    const jobs = new Set(this.jobOf.values());
    this.jobOf.clear();
    for (const j of jobs) j.reject(err);
  }

  /** Completes the input; resolves once the engine has drained and released its caches. */
  async close(): Promise<void> {
    this.input.complete();
    await this.finished;
    this.subscription.unsubscribe();
  }
}
