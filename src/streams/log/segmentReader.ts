import { open } from 'node:fs/promises';
import type { SpecstreamEvent } from '../../events/index.js';
import { decodeEvent } from '../../events/codec.js';
import { checkFrame, CorruptRecordError } from './segmentFormat.js';

/** What a reader knows of one segment: where it is, its first index, how far to read. */
export interface SegmentInfo {
  base: number;
  file: string;
  /** Number of intact records (the committed ones, for the segment being written). */
  count: number;
  /** Bytes to read: the end of the last committed record. */
  bytes: number;
}

const CHUNK = 4 << 20;

/**
 * Reads the records of one segment in chunks, verifying each frame and decoding each event
 * from `fromIndex` on, handing them to `emit` in batches (one per chunk).
 *
 * 1. Read up to `seg.bytes` in 4 MiB chunks; keep a partial last line for the next chunk.
 * 2. Per line: check the frame (CRC-32) — a damaged record is a CorruptRecordError with file
 *    and byte offset; records below `fromIndex` are counted, not decoded.
 * 3. Decode (validate + upcast) with the origin `{file, offset}`.
 * 4. Stop early when `emit` returns false (the subscriber left).
 * Checks at the end that the segment held exactly `seg.count` records.
 */
export async function readSegment(
  seg: SegmentInfo,
  fromIndex: number,
  logDir: string,
  emit: (events: SpecstreamEvent[], firstIndex: number) => boolean,
): Promise<boolean> {
  const fh = await open(seg.file, 'r');
  try {
    let buf = Buffer.allocUnsafe(CHUNK);
    let filled = 0; // bytes of `buf` holding data
    let fileOffset = 0; // file offset of buf[0]
    let readPos = 0; // next file offset to read
    let index = seg.base;
    while (readPos < seg.bytes) {
      if (filled === buf.length) {
        // A line longer than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const want = Math.min(buf.length - filled, seg.bytes - readPos);
      const { bytesRead } = await fh.read(buf, filled, want, readPos);
      if (bytesRead === 0) {
        throw new Error(`segment ${seg.file} is shorter than expected: ended at byte ${readPos}, expected ${seg.bytes}`);
      }
      filled += bytesRead;
      readPos += bytesRead;
      const batch: SpecstreamEvent[] = [];
      let batchFirst = -1;
      let pos = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, pos);
        if (nl === -1 || nl >= filled) break;
        const reason = checkFrame(buf, pos, nl);
        if (reason !== undefined) throw new CorruptRecordError(seg.file, fileOffset + pos, reason, logDir);
        if (index >= fromIndex) {
          if (batchFirst < 0) batchFirst = index;
          batch.push(decodeEvent(buf.toString('utf8', pos + 9, nl), { file: seg.file, offset: fileOffset + pos }));
        }
        index++;
        pos = nl + 1;
      }
      if (batch.length > 0 && !emit(batch, batchFirst)) return false;
      buf.copyWithin(0, pos, filled); // keep the partial line
      filled -= pos;
      fileOffset += pos;
    }
    if (filled > 0) {
      throw new CorruptRecordError(seg.file, fileOffset, 'unterminated record inside the committed part of the segment', logDir);
    }
    if (index - seg.base !== seg.count) {
      throw new Error(
        `segment ${seg.file} holds ${index - seg.base} records, expected ${seg.count} (from the next segment's name); ` +
          'the log was edited by hand or repaired without renaming segments',
      );
    }
    return true;
  } finally {
    await fh.close();
  }
}
