import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstValueFrom, take, timeout, toArray, type Observable } from 'rxjs';
import type { SpecstreamEvent } from '../../events/index.js';
import { createEventFactory, seededPrng } from '../../events/factory.js';
import type { EventLog, Positioned } from './EventLog.js';

export interface EventLogUnderTest {
  log: EventLog;
  cleanup(): Promise<void>;
}

export interface EventLogContractOptions {
  /**
   * Whether the log keeps one total order over all appends (memory, file: yes). A log that only
   * orders per key (Kafka with several partitions) sets false: order is then asserted only
   * within one `source` (every contract event of one append call shares one source).
   */
  totalOrder?: boolean;
  /** How long a `follow` test waits for events before failing (ms). Default 10 s. */
  followTimeoutMs?: number;
}

/**
 * Valid events of every type (they pass the codec's validation), deterministic for a seed.
 * `source` is the same for every event so per-source order is the append order.
 */
export function contractEvents(n: number, seed = 1, source = 'contract-worker', step = 1): SpecstreamEvent[] {
  let t = 1_700_000_000_000;
  const f = createEventFactory({ runId: 'contract-run', source, clock: () => t++, prng: seededPrng(seed) });
  const out: SpecstreamEvent[] = [];
  for (let i = 0; i < n; i++) {
    const s = step + Math.floor(i / 7);
    switch (i % 5) {
      case 0:
        out.push(f.make('DraftVerified', s, { requestId: `r${i}`, drafter: 'model', k: 4, proposed: 4, accepted: i % 5, emitted: (i % 5) + 1 }));
        break;
      case 1:
        out.push(f.make('StepStarted', s, { prompts: 2, groupSize: 4, weightsVersion: s }));
        break;
      case 2:
        out.push(f.make('RewardAssigned', s, { requestId: `r${i}`, promptId: `p${i % 3}`, groupIndex: i % 4, reward: (i % 3) / 2, valid: true, components: {} }));
        break;
      case 3:
        out.push(f.make('RolloutCompleted', s, { requestId: `r${i}`, promptId: 'p0', groupIndex: 0, tokenIds: [1, 2, i], logprobs: [-0.5, -1.25, -2], finishReason: 'stop', weightsVersion: 0 }));
        break;
      default:
        out.push(f.make('PolicyUpdated', s, { model: 'policy', loss: 0.125 * i, gradNorm: 1.5, lr: 1e-5, weightsVersion: s, metrics: { 'kl': 0.01 } }));
    }
  }
  return out;
}

const collect = (o: Observable<Positioned>): Promise<Positioned[]> => firstValueFrom(o.pipe(toArray()));

/**
 * The behaviour every `EventLog` implementation must have, as a vitest suite. Call it from the
 * implementation's spec file with a factory that makes a fresh, empty log per test:
 *
 * @example
 * describeEventLogContract('MemoryEventLog', async () => ({ log: new MemoryEventLog(), cleanup: async () => {} }));
 *
 * Checked: positions (one per event, distinct, reusable in `read`), round trip of every event
 * type, `read(from)` inclusive, `read` bounded by the end at subscription, `follow` = backlog +
 * later appends with nothing missed or doubled, concurrent appends kept whole and in order.
 */
export function describeEventLogContract(
  name: string,
  make: () => Promise<EventLogUnderTest>,
  options: EventLogContractOptions = {},
): void {
  const totalOrder = options.totalOrder ?? true;
  const followTimeoutMs = options.followTimeoutMs ?? 10_000;
  const follow = (log: EventLog, n: number, from?: string): Promise<Positioned[]> =>
    firstValueFrom(log.follow(from).pipe(take(n), timeout(followTimeoutMs), toArray()));
  /** Asserts `got` has the events of `want` in order (all of it, or per source). */
  const expectOrder = (got: readonly SpecstreamEvent[], want: readonly SpecstreamEvent[]): void => {
    if (totalOrder) {
      expect(got).toEqual(want);
      return;
    }
    expect(got.length).toBe(want.length);
    const bySource = (es: readonly SpecstreamEvent[]) => {
      const m = new Map<string, string[]>();
      for (const e of es) m.set(e.source, [...(m.get(e.source) ?? []), e.id]);
      return m;
    };
    expect(bySource(got)).toEqual(bySource(want));
  };

  describe(`EventLog contract: ${name}`, () => {
    let ut: EventLogUnderTest;
    beforeEach(async () => {
      ut = await make();
    });
    afterEach(async () => {
      await ut.log.close();
      await ut.cleanup();
    });

    it('reads nothing from an empty log, and completes', async () => {
      expect(await collect(ut.log.read())).toEqual([]);
    });

    it('returns one distinct position per appended event, and none for an empty batch', async () => {
      expect(await ut.log.append([])).toEqual([]);
      const a = await ut.log.append(contractEvents(5, 1));
      const b = await ut.log.append(contractEvents(3, 2));
      expect(a).toHaveLength(5);
      expect(b).toHaveLength(3);
      expect(new Set([...a, ...b]).size).toBe(8);
      for (const p of [...a, ...b]) expect(typeof p).toBe('string');
    });

    it('reads back every event type unchanged, in append order, at the returned positions', async () => {
      const events = contractEvents(23, 3);
      const positions = await ut.log.append(events);
      const got = await collect(ut.log.read());
      expectOrder(got.map((p) => p.event), events);
      const posById = new Map(got.map((p) => [p.event.id, p.position]));
      events.forEach((e, i) => expect(posById.get(e.id)).toBe(positions[i]));
    });

    it('reads from a position inclusively', async () => {
      const events = contractEvents(12, 4);
      const positions = await ut.log.append(events);
      for (const i of [0, 5, 11]) {
        const got = await collect(ut.log.read(positions[i]));
        expect(got[0]?.event).toEqual(events[i]);
        if (totalOrder) expect(got.map((p) => p.event)).toEqual(events.slice(i));
      }
    });

    it('read is repeatable and bounded by the end at subscription', async () => {
      const first = contractEvents(10, 5);
      await ut.log.append(first);
      const pending = collect(ut.log.read());
      await ut.log.append(contractEvents(4, 6, 'contract-worker', 50));
      const got = await pending;
      expectOrder(got.map((p) => p.event), first);
      const again = await collect(ut.log.read());
      expect(again).toHaveLength(14);
    });

    it('keeps concurrent appends whole and in order', async () => {
      const batches = Array.from({ length: 8 }, (_, b) => contractEvents(6, 100 + b, `w${b}`, 1 + b));
      const positions = await Promise.all(batches.map((b) => ut.log.append(b)));
      const got = (await collect(ut.log.read())).map((p) => p.event);
      expect(got).toHaveLength(48);
      expect(positions.flat().length).toBe(48);
      if (totalOrder) {
        // Every batch is contiguous in the log.
        for (const batch of batches) {
          const at = got.findIndex((e) => e.id === batch[0]!.id);
          expect(got.slice(at, at + batch.length)).toEqual(batch);
        }
      } else {
        for (const batch of batches) expect(got.filter((e) => e.source === batch[0]!.source)).toEqual(batch);
      }
    });

    it('follow emits the backlog, then later appends, each exactly once', async () => {
      const backlog = contractEvents(5, 7);
      await ut.log.append(backlog);
      const later = contractEvents(6, 8, 'contract-worker', 20);
      const pending = follow(ut.log, 11);
      await ut.log.append(later.slice(0, 3));
      await ut.log.append(later.slice(3));
      const got = await pending;
      expectOrder(got.map((p) => p.event), [...backlog, ...later]);
    });

    it('follow from a position starts there', async () => {
      const events = contractEvents(8, 9);
      const positions = await ut.log.append(events);
      const pending = follow(ut.log, 5, positions[4]);
      await ut.log.append(contractEvents(1, 10, 'contract-worker', 30));
      const got = await pending;
      expect(got[0]?.event).toEqual(events[4]);
      if (totalOrder) expect(got.slice(0, 4).map((p) => p.event)).toEqual(events.slice(4));
    });

    it('follow on an empty log waits for the first append', async () => {
      const pending = follow(ut.log, 2);
      const events = contractEvents(2, 11);
      await ut.log.append(events);
      expectOrder((await pending).map((p) => p.event), events);
    });

    it('round-trips a large batch', async () => {
      const events = contractEvents(3000, 12);
      await ut.log.append(events);
      const got = await collect(ut.log.read());
      expectOrder(got.map((p) => p.event), events);
    });
  });
}
