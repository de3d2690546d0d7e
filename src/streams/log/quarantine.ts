import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** One quarantined byte range, as recorded in `<log>/quarantine/index.jsonl`. */
export interface QuarantineEntry {
  /** Segment file the bytes came from. */
  segment: string;
  /** Byte offset of the range in the segment at the time it was moved. */
  offset: number;
  length: number;
  reason: string;
  /** File under quarantine/ holding the bytes, verbatim. */
  savedAs: string;
}

/**
 * Saves bytes removed from a segment into `<dir>/quarantine/` (verbatim, one file per range)
 * and records them in `quarantine/index.jsonl`, so no byte is ever dropped silently — both the
 * torn-tail truncation on open and `log repair` go through here before cutting anything.
 */
export async function quarantine(dir: string, segmentFile: string, offset: number, bytes: Buffer, reason: string): Promise<QuarantineEntry> {
  const qdir = join(dir, 'quarantine');
  await mkdir(qdir, { recursive: true });
  const savedAs = `${basename(segmentFile)}@${offset}.bad`;
  await writeFile(join(qdir, savedAs), bytes);
  const entry: QuarantineEntry = { segment: basename(segmentFile), offset, length: bytes.length, reason, savedAs };
  await appendFile(join(qdir, 'index.jsonl'), `${JSON.stringify(entry)}\n`);
  return entry;
}
