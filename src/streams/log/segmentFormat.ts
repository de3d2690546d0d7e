import { crc32 } from 'node:zlib';

/**
 * The file log's on-disk format (docs/event-log.md): a directory of segment files named by the
 * global index of their first event, zero-padded (`00000000000000000000.seg`), each a sequence
 * of records, one per line:
 *
 *     <crc32 of the JSON bytes, 8 lowercase hex digits> <event JSON>\n
 *
 * JSON never contains a raw newline, so a reader can resynchronise after damage at the next
 * newline, and a torn record (no newline, or a checksum that does not match) is detectable.
 */
export const SEGMENT_SUFFIX = '.seg';

/** The file name of the segment whose first event has global index `base`. */
export function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

/** The base index of a segment file name, or undefined when the name is not a segment's. */
export function parseSegmentName(name: string): number | undefined {
  const m = /^(\d{20})\.seg$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** Frames one encoded event as a record line. */
export function frameRecord(json: string): string {
  return `${hex8(crc32(json))} ${json}\n`;
}

/** Value of an ASCII hex digit, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Checks the frame of the record `buf[start, end)` (`end` = index of its newline): length,
 * separator, hex checksum, and the CRC-32 of the JSON bytes. Returns undefined when intact, else
 * the reason (expected vs received).
 */
export function checkFrame(buf: Buffer, start: number, end: number): string | undefined {
  if (end - start < 11) return `record too short (${end - start} bytes, expected a checksum, a space and JSON)`;
  if (buf[start + 8] !== 0x20) return 'no space after the 8-digit checksum';
  let stored = 0;
  for (let i = 0; i < 8; i++) {
    const v = hexValue(buf[start + i]!);
    if (v < 0) return `checksum is not hexadecimal (received ${JSON.stringify(buf.toString('latin1', start, start + 8))})`;
    stored = stored * 16 + v;
  }
  const computed = crc32(buf.subarray(start + 9, end));
  if (computed !== stored) return `checksum mismatch (stored ${hex8(stored)}, computed ${hex8(computed)})`;
  return undefined;
}

/** A damaged byte range of a segment. */
export interface BadRegion {
  start: number;
  end: number;
  reason: string;
}

export interface SegmentScan {
  /** Intact records, in order, as [start, end) of their line without the newline. */
  records: Array<{ start: number; end: number }>;
  /** Damaged ranges (adjacent damaged lines merged), in order. */
  bad: BadRegion[];
  /**
   * Where a torn tail starts: the damage that no intact record follows (a write cut short by a
   * crash), or undefined when the segment ends with an intact record.
   */
  tornTailStart?: number;
}

/**
 * Scans a whole segment: splits lines, checks each frame, merges adjacent damaged lines into
 * regions, and classifies a trailing damaged region (no intact record after it) as a torn tail.
 */
export function scanSegment(buf: Buffer): SegmentScan {
  const records: SegmentScan['records'] = [];
  const bad: BadRegion[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    const end = nl === -1 ? buf.length : nl;
    const reason = nl === -1 ? 'unterminated record (no newline: the write was cut short)' : checkFrame(buf, pos, end);
    if (reason === undefined) {
      records.push({ start: pos, end });
    } else {
      const last = bad[bad.length - 1];
      const lineEnd = nl === -1 ? buf.length : nl + 1;
      if (last && last.end === pos) last.end = lineEnd;
      else bad.push({ start: pos, end: lineEnd, reason });
    }
    pos = nl === -1 ? buf.length : nl + 1;
  }
  const lastBad = bad[bad.length - 1];
  const tornTailStart = lastBad && lastBad.end === buf.length ? lastBad.start : undefined;
  return tornTailStart === undefined ? { records, bad } : { records, bad, tornTailStart };
}

/** A damaged record found where intact records follow it: only `log repair` may move it aside. */
export class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
    readonly logDir: string,
  ) {
    super(
      `corrupt record in file ${file} at byte ${offset}: ${reason}. Intact records follow it, so it is not a torn ` +
        `write; run \`specstream log repair ${logDir}\` to move the bad bytes into ${logDir}/quarantine/`,
    );
  }
}
