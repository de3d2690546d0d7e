import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, reduce } from 'rxjs';
import type { SpecstreamEvent } from '../../events/index.js';
import { createEventFactory, seededPrng } from '../../events/factory.js';
import { emptyMetricsState, foldEvents, selectStepMetrics } from '../../reducers/stepMetrics.js';
import { FileEventLog } from '../../streams/log/FileEventLog.js';
import { replayLog } from '../../streams/replay.js';
import type { Benchmark } from './index.js';

const WORKERS = 8;
const STEPS = 100;

/** Writes `n` DraftVerified events (8 workers, 100 steps, k 1..8) in batches of 10,000. */
async function writeLog(dir: string, n: number): Promise<void> {
  let t = 1_700_000_000_000;
  const factories = Array.from({ length: WORKERS }, (_, w) =>
    createEventFactory({ runId: 'bench', source: `gen-${w}`, clock: () => t++, prng: seededPrng(w + 1) }),
  );
  const rand = seededPrng(99);
  const log = await FileEventLog.open(dir, { durability: 'never' });
  const perStep = Math.ceil(n / STEPS);
  for (let i = 0; i < n; ) {
    const batch: SpecstreamEvent[] = [];
    for (let j = 0; j < 10_000 && i < n; j++, i++) {
      const k = 1 + Math.floor(rand() * 8);
      const proposed = k - (rand() < 0.1 ? 1 : 0);
      const accepted = Math.floor(rand() * (proposed + 1));
      batch.push(
        factories[i % WORKERS]!.make('DraftVerified', 1 + Math.floor(i / perStep), {
          requestId: `req-${i % 4096}`,
          drafter: 'model',
          k,
          proposed,
          accepted,
          emitted: accepted + 1,
        }),
      );
    }
    await log.append(batch);
  }
  await log.close();
}

const mb = (bytes: number) => bytes / (1 << 20);

/**
 * `npm run bench -- events`: the cost of the fold against the cost of reading the log.
 *
 * 1. Write ≥ 1,000,000 DraftVerified events to a file log in a temp dir (`--quick`: 100,000).
 * 2. Decode only: read + frame check + JSON + validation of every event, counting them.
 * 3. Replay: the same read, plus the fold (`replayLog`), as `specstream replay` runs it.
 * 4. Fold only: `foldEvents` over the decoded events held in memory, in 8192-event batches.
 * Each timing is the best of 3 runs (decode and replay alternate). Reports events/s for the
 * fold, MB/s for decode and replay, and ratio = replay MB/s ÷ decode MB/s (aim ≥ 0.5: the fold
 * adds less than decoding costs).
 */
export const eventsBenchmark: Benchmark = {
  name: 'events',
  description: 'file event log: decode MB/s vs replay (decode + fold) MB/s, fold events/s',
  async run(options) {
    const n = options['quick'] ? 100_000 : 1_000_000;
    const dir = await mkdtemp(join(tmpdir(), 'specstream-bench-events-'));
    try {
      const t0 = performance.now();
      await writeLog(dir, n);
      const writeS = (performance.now() - t0) / 1000;
      let bytes = 0;
      for (const f of await readdir(dir)) if (f.endsWith('.seg')) bytes += (await stat(join(dir, f))).size;
      const log = await FileEventLog.open(dir, { readOnly: true });

      const decodeOnce = async () => {
        const s = performance.now();
        const count = await lastValueFrom(log.read().pipe(reduce((c) => c + 1, 0)));
        if (count !== n) throw new Error(`bench events: read ${count} events, wrote ${n}`);
        return (performance.now() - s) / 1000;
      };
      let steps = 0;
      const replayOnce = async () => {
        const s = performance.now();
        const rows = await replayLog(log);
        steps = rows.length;
        return (performance.now() - s) / 1000;
      };
      let decodeS = Infinity;
      let replayS = Infinity;
      for (let r = 0; r < 3; r++) {
        decodeS = Math.min(decodeS, await decodeOnce());
        replayS = Math.min(replayS, await replayOnce());
      }
      const events = await lastValueFrom(log.read().pipe(reduce<{ event: SpecstreamEvent }, SpecstreamEvent[]>((a, p) => (a.push(p.event), a), [])));
      await log.close();
      let foldS = Infinity;
      let drafts = 0;
      for (let r = 0; r < 3; r++) {
        const s = performance.now();
        let state = emptyMetricsState;
        for (let i = 0; i < events.length; i += 8192) state = foldEvents(state, events.slice(i, i + 8192));
        const rows = selectStepMetrics(state);
        foldS = Math.min(foldS, (performance.now() - s) / 1000);
        drafts = rows.reduce((a, m) => a + (m['spec_decode/num_drafts'] ?? 0), 0);
      }
      const result = {
        events: n,
        steps,
        drafts,
        workers: WORKERS,
        logMB: +mb(bytes).toFixed(1),
        writeS: +writeS.toFixed(2),
        decodeMBps: +(mb(bytes) / decodeS).toFixed(1),
        decodeEventsPerS: Math.round(n / decodeS),
        replayMBps: +(mb(bytes) / replayS).toFixed(1),
        replayEventsPerS: Math.round(n / replayS),
        foldEventsPerS: Math.round(n / foldS),
        ratio: +(decodeS / replayS).toFixed(3),
      };
      const lines = [
        `bench events: ${n.toLocaleString('en')} DraftVerified events, ${WORKERS} workers, ${steps} steps, log ${result.logMB} MB (written in ${result.writeS} s)`,
        `  decode only (read + check + JSON + validate): ${result.decodeMBps} MB/s  (${result.decodeEventsPerS.toLocaleString('en')} events/s)`,
        `  replay (decode + fold):                      ${result.replayMBps} MB/s  (${result.replayEventsPerS.toLocaleString('en')} events/s)`,
        `  fold only (in memory, 8192-event batches):   ${result.foldEventsPerS.toLocaleString('en')} events/s`,
        `  ratio replay/decode MB/s: ${result.ratio} (aim ≥ 0.5)`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      return result;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
