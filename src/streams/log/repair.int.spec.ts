import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, toArray } from 'rxjs';
import { contractEvents } from './eventLogContract.js';
import { FileEventLog } from './FileEventLog.js';
import { repairLog } from './repair.js';
import { segmentName } from './segmentFormat.js';

describe('log repair', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const fresh = async () => {
    const d = await mkdtemp(join(tmpdir(), 'specstream-repair-'));
    dirs.push(d);
    return d;
  };
  const readAll = async (dir: string) => {
    const log = await FileEventLog.open(dir, { readOnly: true });
    try {
      return (await firstValueFrom(log.read().pipe(toArray()))).map((p) => p.event);
    } finally {
      await log.close();
    }
  };
  /** Flips one byte inside record `n` (0-based) of a segment; returns the record's bytes. */
  const damage = async (file: string, n: number): Promise<{ offset: number; bytes: Buffer }> => {
    const buf = await readFile(file);
    let start = 0;
    for (let i = 0; i < n; i++) start = buf.indexOf(0x0a, start) + 1;
    const end = buf.indexOf(0x0a, start) + 1;
    buf[start + 40] = buf[start + 40]! ^ 0x20;
    await writeFile(file, buf);
    return { offset: start, bytes: (await readFile(file)).subarray(start, end) };
  };

  it('moves a corrupt record in the middle into quarantine, verbatim, and the log opens again', async () => {
    const dir = await fresh();
    const events = contractEvents(10, 1);
    const log = await FileEventLog.open(dir);
    await log.append(events);
    await log.close();
    const seg = join(dir, segmentName(0));
    const { offset, bytes } = await damage(seg, 4);
    await expect(FileEventLog.open(dir)).rejects.toThrow(`corrupt record in file ${seg} at byte ${offset}`);

    const report = await repairLog(dir);
    expect(report.records).toBe(9);
    expect(report.quarantined).toEqual([
      { segment: segmentName(0), offset, length: bytes.length, reason: expect.stringMatching(/checksum mismatch/), savedAs: `${segmentName(0)}@${offset}.bad` },
    ]);
    expect(await readFile(join(dir, 'quarantine', `${segmentName(0)}@${offset}.bad`))).toEqual(bytes);
    const index = (await readFile(join(dir, 'quarantine', 'index.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(index).toHaveLength(1);
    expect(await readAll(dir)).toEqual([...events.slice(0, 4), ...events.slice(5)]);
    const reopened = await FileEventLog.open(dir);
    expect(await reopened.append(contractEvents(1, 2))).toEqual(['9']);
    await reopened.close();
    expect((await repairLog(dir)).quarantined).toEqual([]); // nothing left to repair
  });

  it('renames later segments to their new first index and keeps positions consistent', async () => {
    const dir = await fresh();
    const events = contractEvents(60, 3);
    const log = await FileEventLog.open(dir, { segmentBytes: 2048 });
    for (let i = 0; i < 60; i += 5) await log.append(events.slice(i, i + 5));
    await log.close();
    const before = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    expect(before.length).toBeGreaterThan(2);
    await damage(join(dir, before[0]!), 1);
    await damage(join(dir, before[1]!), 0);
    await expect(readAll(dir)).rejects.toThrow(/corrupt record/);
    const report = await repairLog(dir);
    expect(report.quarantined).toHaveLength(2);
    expect(report.renamed.length).toBe(before.length - 1);
    const got = await readAll(dir);
    expect(got).toHaveLength(58);
    const lost = new Set(events.map((e) => e.id).filter((id) => !got.some((g) => g.id === id)));
    expect(lost.size).toBe(2);
    const log2 = await FileEventLog.open(dir, { readOnly: true });
    const from40 = await firstValueFrom(log2.read('40').pipe(toArray()));
    expect(from40[0]!.event).toEqual(got[40]);
    await log2.close();
  });

  it('CLI: specstream log repair and log inspect', async () => {
    const dir = await fresh();
    const log = await FileEventLog.open(dir);
    await log.append(contractEvents(6, 4));
    await log.close();
    const { offset } = await damage(join(dir, segmentName(0)), 2);
    const { buildProgram } = await import('../../cli/program.js');
    const out: string[] = [];
    const { vi } = await import('vitest');
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
    try {
      await buildProgram().parseAsync(['node', 'specstream', 'log', 'repair', dir]);
      await buildProgram().parseAsync(['node', 'specstream', 'log', 'inspect', dir]);
    } finally {
      spy.mockRestore();
    }
    const text = out.join('');
    expect(text).toContain(`of ${segmentName(0)} at byte ${offset} (checksum mismatch`);
    expect(text).toContain(`${dir}: 5 records intact`);
    expect(text).toContain(`log ${dir}: 5 events, 1 segment(s)`);
    expect(text).toMatch(/DraftVerified: \d/);
  });
});
