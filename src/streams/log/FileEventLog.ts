import { mkdir, open, readdir, readFile, stat, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Observable, Subject } from 'rxjs';
import type { SpecstreamEvent } from '../../events/index.js';
import { encodeEvent, validateEvent } from '../../events/codec.js';
import type { EventLog, LogPosition, Positioned } from './EventLog.js';
import { IndexGate, parseIndexPosition } from './position.js';
import { DEFAULT_DURABILITY, Syncer, type Durability } from './durability.js';
import { acquireLogLock } from './logLock.js';
import { quarantine } from './quarantine.js';
import { checkFrame, CorruptRecordError, frameRecord, parseSegmentName, scanSegment, segmentName } from './segmentFormat.js';
import { readSegment, type SegmentInfo } from './segmentReader.js';

export interface FileEventLogOptions {
  /** fsync policy (./durability.ts). Default `{ intervalMs: 100 }`. */
  durability?: Durability;
  /** A new segment is started when the current one reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Open for reading only: no lock, no appends, a torn tail is reported and skipped, not cut. */
  readOnly?: boolean;
  /** Read-only: how often `follow` looks for events appended by the writing process (ms). Default 200. */
  pollMs?: number;
  /** Receives recovery reports (torn tail found and truncated). Default: process.emitWarning. */
  onWarning?: (message: string) => void;
}

/** What opening the log found and did. */
export interface RecoveryReport {
  file: string;
  /** Where the torn tail began (the end of the last intact record). */
  offset: number;
  /** Bytes removed (and saved under quarantine/). */
  bytes: number;
  /** The quarantine file, when the tail was cut (writer mode). */
  savedAs?: string;
}

/**
 * The embedded event log: an append-only directory of segment files (format in
 * ./segmentFormat.ts and docs/event-log.md). Positions are global event indexes as decimal
 * strings. One writer process at a time (a LOCK file); any number of read-only openers.
 *
 * Open (`FileEventLog.open`):
 * 1. List segments; every segment but the last is trusted to hold `next.base − base` records
 *    (checked when read).
 * 2. Scan the last segment fully. Damage followed by intact records → CorruptRecordError (file,
 *    offset; `specstream log repair` fixes it). Damage at the very end → a torn tail: reported,
 *    saved to quarantine/ and truncated (read-only: reported and skipped).
 * Append: validated, framed, written in one write per batch behind a promise chain (batches never
 * interleave), synced per the durability policy, then published to followers.
 */
export class FileEventLog implements EventLog {
  private readonly appended = new Subject<readonly Positioned[]>();
  private chain: Promise<unknown> = Promise.resolve();
  private handle: FileHandle | undefined;
  private readonly syncer: Syncer | undefined;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly segments: SegmentInfo[],
    private readonly options: Required<Omit<FileEventLogOptions, 'onWarning'>>,
    private readonly releaseLock: (() => Promise<void>) | undefined,
    /** The torn tail found on open, if any. */
    readonly recovery: RecoveryReport | undefined,
  ) {
    this.syncer = options.readOnly ? undefined : new Syncer(options.durability, () => this.handle);
  }

  /** Opens (creating if needed, unless read-only) the log in `dir`, recovering a torn tail. */
  static async open(dir: string, options: FileEventLogOptions = {}): Promise<FileEventLog> {
    const opts = {
      durability: options.durability ?? DEFAULT_DURABILITY,
      segmentBytes: options.segmentBytes ?? 64 << 20,
      readOnly: options.readOnly ?? false,
      pollMs: options.pollMs ?? 200,
    };
    const warn = options.onWarning ?? ((m: string) => process.emitWarning(m, 'SpecstreamLogRecovery'));
    if (!opts.readOnly) await mkdir(dir, { recursive: true });
    const release = opts.readOnly ? undefined : await acquireLogLock(dir);
    try {
      const segments = await listSegments(dir);
      if (segments.length === 0) {
        if (opts.readOnly) throw new Error(`no event log in ${dir}: no *.seg files`);
        const file = join(dir, segmentName(0));
        await (await open(file, 'a')).close();
        segments.push({ base: 0, file, count: 0, bytes: 0 });
      }
      const last = segments[segments.length - 1]!;
      const buf = await readFile(last.file);
      const scan = scanSegment(buf);
      const firstBad = scan.bad[0];
      if (firstBad && firstBad.start !== scan.tornTailStart) {
        throw new CorruptRecordError(last.file, firstBad.start, firstBad.reason, dir);
      }
      let recovery: RecoveryReport | undefined;
      last.count = scan.records.length;
      last.bytes = scan.tornTailStart ?? buf.length;
      if (scan.tornTailStart !== undefined) {
        const tail = buf.subarray(scan.tornTailStart);
        recovery = { file: last.file, offset: scan.tornTailStart, bytes: tail.length };
        const reason = scan.bad[scan.bad.length - 1]!.reason;
        if (!opts.readOnly) {
          const entry = await quarantine(dir, last.file, scan.tornTailStart, tail, `torn tail: ${reason}`);
          await truncate(last.file, scan.tornTailStart);
          recovery.savedAs = join(dir, 'quarantine', entry.savedAs);
        }
        warn(
          `event log ${dir}: torn last record in ${last.file} at byte ${scan.tornTailStart} (${tail.length} bytes, ${reason}); ` +
            (opts.readOnly
              ? 'skipped (read-only)'
              : `truncated, bytes saved to ${recovery.savedAs}; the ${last.base + last.count} events before it are intact`),
        );
      }
      const log = new FileEventLog(dir, segments, opts, release, recovery);
      if (!opts.readOnly) log.handle = await open(last.file, 'a');
      return log;
    } catch (err) {
      await release?.();
      throw err;
    }
  }

  /** Number of events in the log (committed). */
  get length(): number {
    const last = this.segments[this.segments.length - 1]!;
    return last.base + last.count;
  }

  /** Appends a batch: validated first (an invalid event rejects the whole batch, nothing written). */
  append(events: readonly SpecstreamEvent[]): Promise<LogPosition[]> {
    if (this.closed) return Promise.reject(new Error(`event log ${this.dir} is closed`));
    const run = this.chain.then(() => this.doAppend(events));
    this.chain = run.catch(() => undefined); // a failed append must not block later ones
    return run;
  }

  private async doAppend(events: readonly SpecstreamEvent[]): Promise<LogPosition[]> {
    if (this.options.readOnly) throw new Error(`event log ${this.dir} is open read-only`);
    if (events.length === 0) return [];
    const normalised = events.map((e, i) => validateEvent(e, { offset: `batch index ${i}` }));
    let last = this.segments[this.segments.length - 1]!;
    if (last.bytes >= this.options.segmentBytes && last.count > 0) last = await this.roll();
    const bytes = Buffer.from(normalised.map((e) => frameRecord(encodeEvent(e))).join(''), 'utf8');
    let written = 0;
    while (written < bytes.length) {
      const r = await this.handle!.write(bytes, written, bytes.length - written);
      written += r.bytesWritten;
    }
    await this.syncer!.afterWrite();
    const first = last.base + last.count;
    last.count += normalised.length;
    last.bytes += bytes.length;
    const batch = normalised.map((event, i) => ({ event, position: String(first + i) }));
    this.appended.next(batch);
    return batch.map((p) => p.position);
  }

  /** Closes the current segment (synced per policy) and starts the next one. */
  private async roll(): Promise<SegmentInfo> {
    await this.syncer!.flush();
    await this.handle!.close();
    const base = this.length;
    const seg: SegmentInfo = { base, file: join(this.dir, segmentName(base)), count: 0, bytes: 0 };
    this.handle = await open(seg.file, 'a');
    this.segments.push(seg);
    return seg;
  }

  /** Everything from `from` to the end as of subscription, decoded and validated; completes. */
  read(from?: LogPosition): Observable<Positioned> {
    return new Observable<Positioned>((subscriber) => {
      const start = parseIndexPosition(from, 'FileEventLog.read');
      const snapshot = this.segments.map((s) => ({ ...s }));
      let stopped = false;
      void (async () => {
        for (let i = 0; i < snapshot.length && !stopped; i++) {
          const seg = snapshot[i]!;
          if (seg.base + seg.count <= start) continue;
          const more = await readSegment(seg, start, this.dir, (events, firstIndex) => {
            for (let j = 0; j < events.length && !subscriber.closed; j++) {
              subscriber.next({ event: events[j]!, position: String(firstIndex + j) });
            }
            return !subscriber.closed;
          });
          if (!more) return;
        }
        subscriber.complete();
      })().catch((err: unknown) => subscriber.error(err));
      return () => {
        stopped = true;
      };
    });
  }

  /**
   * `read(from)`, then the events appended later: by this process (writer), or, when opened
   * read-only, by the writing process (polled every `pollMs`). Appends that land while the
   * backlog is being read are held back and emitted after it, skipping any the backlog had.
   */
  follow(from?: LogPosition): Observable<Positioned> {
    return new Observable<Positioned>((subscriber) => {
      const gate = new IndexGate(parseIndexPosition(from, 'FileEventLog.follow'), (p) => subscriber.next(p));
      const emit = gate.push;
      let catchingUp = true;
      const pending: Positioned[] = [];
      const live = this.appended.subscribe({
        next: (batch) => (catchingUp ? pending.push(...batch) : batch.forEach(emit)),
        complete: () => subscriber.complete(),
      });
      let timer: NodeJS.Timeout | undefined;
      let polling = false;
      const poll = (): void => {
        if (polling || subscriber.closed) return;
        polling = true;
        this.refresh()
          .then(() => {
            const inner = this.read(String(gate.next)).subscribe({
              next: emit,
              error: (err: unknown) => subscriber.error(err),
              complete: () => (polling = false),
            });
            inner.add(() => (polling = false));
          })
          .catch((err: unknown) => subscriber.error(err));
      };
      const backlog = this.read(String(gate.next)).subscribe({
        next: emit,
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          catchingUp = false;
          pending.splice(0).forEach(emit);
          // Read-only: another process writes; look for its appends periodically.
          if (this.options.readOnly) timer = setInterval(poll, this.options.pollMs);
        },
      });
      return () => {
        if (timer) clearInterval(timer);
        backlog.unsubscribe();
        live.unsubscribe();
      };
    });
  }

  /**
   * Read-only: takes in what the writing process appended since open or the last refresh —
   * complete, intact records only (a record being written is picked up by a later refresh).
   * 1. New segments (by name) seal the previous last one at `next.base − base` records.
   * 2. The last segment is scanned from its known end to its current size; scanning stops at
   *    the first incomplete or damaged line.
   */
  async refresh(): Promise<void> {
    if (!this.options.readOnly) return; // the writer knows its own appends
    const listed = await listSegments(this.dir);
    const known = this.segments[this.segments.length - 1]!;
    for (const seg of listed) {
      if (seg.base <= known.base) continue;
      const last = this.segments[this.segments.length - 1]!;
      last.count = seg.base - last.base;
      last.bytes = (await stat(last.file)).size;
      this.segments.push({ ...seg, count: 0, bytes: 0 });
    }
    const last = this.segments[this.segments.length - 1]!;
    const size = (await stat(last.file)).size;
    if (size <= last.bytes) return;
    const fh = await open(last.file, 'r');
    try {
      const buf = Buffer.allocUnsafe(size - last.bytes);
      const { bytesRead } = await fh.read(buf, 0, buf.length, last.bytes);
      let pos = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, pos);
        if (nl === -1 || nl >= bytesRead || checkFrame(buf, pos, nl) !== undefined) break;
        last.count++;
        pos = nl + 1;
      }
      last.bytes += pos;
    } finally {
      await fh.close();
    }
  }

  /** Waits for pending appends, syncs (unless durability is never), releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    this.syncer?.stop();
    if (this.handle) {
      await this.syncer!.flush();
      await this.handle.close();
      this.handle = undefined;
    }
    await this.releaseLock?.();
    this.appended.complete();
  }
}

/** Lists the segments of `dir` in order, with sizes and counts implied by the next one's base. */
async function listSegments(dir: string): Promise<SegmentInfo[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`no event log at ${dir}: the directory does not exist`);
    throw err;
  }
  const bases = names
    .map((n) => parseSegmentName(n))
    .filter((b): b is number => b !== undefined)
    .sort((a, b) => a - b);
  const segments: SegmentInfo[] = [];
  for (let i = 0; i < bases.length; i++) {
    const file = join(dir, segmentName(bases[i]!));
    const next = bases[i + 1];
    segments.push({ base: bases[i]!, file, count: next === undefined ? 0 : next - bases[i]!, bytes: (await stat(file)).size });
  }
  return segments;
}
