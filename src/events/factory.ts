import { monotonicFactory, type PRNG } from 'ulid';
import { currentVersion, type DataOf, type EventOf, type EventType } from './index.js';

export interface EventFactoryOptions {
  runId: string;
  /** Worker id written into every event's `source`. */
  source: string;
  /** Wall clock in ms since epoch; inject a fixed clock in tests. Default `Date.now`. */
  clock?: () => number;
  /** Random source for the ULID's random part (values in [0, 1)); inject a seeded one in tests. */
  prng?: PRNG;
  /** First `seq` to assign (resume a source after a restart). Default 0. */
  firstSeq?: number;
}

export interface EventFactory {
  /** Builds an event of `type` at the current schema version with a fresh id, `seq` and `time`. */
  make<T extends EventType>(type: T, step: number, data: DataOf<T>): EventOf<T>;
  /** The `seq` the next event will get. */
  readonly nextSeq: number;
}

/**
 * Creates the one place where events are born: every producer of the pipeline makes its events
 * through a factory, so ids, sequence numbers and times are assigned the same way everywhere.
 *
 * 1. Ids are ULIDs from `ulid`'s monotonic factory: lexically sortable by time, and strictly
 *    increasing within one factory even when the clock stands still or goes backwards.
 * 2. `seq` counts up from `firstSeq` per factory (one factory per source).
 * 3. `time` is read from the injected clock — the only clock read of the pipeline's events;
 *    reducers read time from events, never from a clock.
 * 4. `version` is the current schema version of `type` (`currentVersion`).
 *
 * @example
 * const f = createEventFactory({ runId: 'run-1', source: 'gen-0' });
 * const e = f.make('StepStarted', 1, { prompts: 8, groupSize: 4, weightsVersion: 0 });
 */
export function createEventFactory(options: EventFactoryOptions): EventFactory {
  const clock = options.clock ?? Date.now;
  const nextId = monotonicFactory(options.prng);
  let seq = options.firstSeq ?? 0;
  if (!options.runId) throw new Error('createEventFactory: runId must be a non-empty string');
  if (!options.source) throw new Error('createEventFactory: source must be a non-empty string');
  return {
    make<T extends EventType>(type: T, step: number, data: DataOf<T>): EventOf<T> {
      if (!Number.isInteger(step) || step < 0) {
        throw new Error(`createEventFactory.make(${type}): step must be an integer ≥ 0, received ${step}`);
      }
      const time = clock();
      const event = {
        id: nextId(time),
        type,
        version: currentVersion[type],
        runId: options.runId,
        step,
        source: options.source,
        seq: seq++,
        time,
        data,
      };
      return event as unknown as EventOf<T>;
    },
    get nextSeq() {
      return seq;
    },
  };
}

/**
 * A deterministic PRNG (mulberry32) for seeded ids in tests and fixtures: same seed, same ids.
 */
export function seededPrng(seed: number): PRNG {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
