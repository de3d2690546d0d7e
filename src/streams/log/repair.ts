import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLogLock } from './logLock.js';
import { quarantine, type QuarantineEntry } from './quarantine.js';
import { parseSegmentName, scanSegment, segmentName } from './segmentFormat.js';

export interface RepairReport {
  /** Segments deleted because nothing intact was left in them (their bytes are in quarantine). */
  removed: string[];
  /** Byte ranges moved into quarantine/, in order. */
  quarantined: QuarantineEntry[];
  /** Segments renamed because records before them were removed: [from, to]. */
  renamed: Array<[string, string]>;
  /** Intact records kept, over all segments. */
  records: number;
}

/**
 * `specstream log repair <dir>`: moves every damaged byte range of every segment into
 * `<dir>/quarantine/` (verbatim, listed in quarantine/index.jsonl) and keeps the intact records,
 * so a log with a corrupt record in the middle opens again. Never drops bytes silently.
 *
 * 1. Take the writer lock (no writer may be running).
 * 2. Per segment: scan all records; if any range is damaged, save each range to quarantine,
 *    write the intact records to `<segment>.repair`, fsync, and rename it over the segment.
 *    A segment left empty (and not the last) is deleted.
 * 3. Rename segments to their new base index (names are the global index of their first event,
 *    which shifts when records before them were removed); ascending order avoids collisions.
 * Positions (global indexes) after a removed record shift down by the number removed.
 */
export async function repairLog(dir: string): Promise<RepairReport> {
  const release = await acquireLogLock(dir);
  try {
    const bases = (await readdir(dir))
      .map((n) => parseSegmentName(n))
      .filter((b): b is number => b !== undefined)
      .sort((a, b) => a - b);
    if (bases.length === 0) throw new Error(`no event log in ${dir}: no *.seg files`);
    const report: RepairReport = { quarantined: [], renamed: [], removed: [], records: 0 };
    for (const [i, base] of bases.entries()) {
      const file = join(dir, segmentName(base));
      const buf = await readFile(file);
      const scan = scanSegment(buf);
      let name = segmentName(base);
      if (scan.bad.length > 0) {
        for (const region of scan.bad) {
          report.quarantined.push(await quarantine(dir, file, region.start, buf.subarray(region.start, region.end), region.reason));
        }
        const tmp = `${file}.repair`;
        const fh = await open(tmp, 'w');
        try {
          for (const r of scan.records) await fh.write(buf, r.start, r.end + 1 - r.start);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, file);
        if (scan.records.length === 0 && i < bases.length - 1) {
          // Empty and not last: it would share its name with the next segment.
          await rm(file);
          report.removed.push(name);
          continue;
        }
      }
      const newName = segmentName(report.records);
      if (newName !== name) {
        await rename(file, join(dir, newName));
        report.renamed.push([name, newName]);
        name = newName;
      }
      report.records += scan.records.length;
    }
    return report;
  } finally {
    await release();
  }
}
