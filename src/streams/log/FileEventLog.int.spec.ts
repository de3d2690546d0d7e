import { afterEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { contractEvents, describeEventLogContract } from './eventLogContract.js';
import { FileEventLog } from './FileEventLog.js';
import { segmentName } from './segmentFormat.js';

const tmp = () => mkdtemp(join(tmpdir(), 'specstream-log-'));

describeEventLogContract('FileEventLog', async () => {
  const dir = await tmp();
  return { log: await FileEventLog.open(dir, { durability: 'never' }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describeEventLogContract('FileEventLog (small segments, fsync per batch)', async () => {
  const dir = await tmp();
  return {
    log: await FileEventLog.open(dir, { durability: 'batch', segmentBytes: 2048 }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describeEventLogContract('FileEventLog (default durability: fsync every 100 ms)', async () => {
  const dir = await tmp();
  return { log: await FileEventLog.open(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('FileEventLog on disk', () => {
  const dirs: string[] = [];
  const fresh = async () => {
    const d = await tmp();
    dirs.push(d);
    return d;
  };
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const readAll = (log: FileEventLog) => firstValueFrom(log.read().pipe(toArray()));

  it('keeps events across close and reopen, across segments', async () => {
    const dir = await fresh();
    const events = contractEvents(200, 1);
    let log = await FileEventLog.open(dir, { segmentBytes: 4096, durability: 'never' });
    for (let i = 0; i < 200; i += 20) await log.append(events.slice(i, i + 20));
    await log.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.seg')).length).toBeGreaterThan(3);
    log = await FileEventLog.open(dir, { segmentBytes: 4096 });
    expect(log.length).toBe(200);
    const positions = await log.append(contractEvents(1, 2, 'x', 99));
    expect(positions).toEqual(['200']);
    const got = await readAll(log);
    expect(got.map((p) => p.event)).toEqual([...events, ...contractEvents(1, 2, 'x', 99)]);
    expect((await firstValueFrom(log.read('150').pipe(toArray())))[0]!.event).toEqual(events[150]);
    await log.close();
  });

  it('detects a torn last record on open, reports it, saves it to quarantine and truncates it', async () => {
    const dir = await fresh();
    const events = contractEvents(10, 3);
    const log = await FileEventLog.open(dir, { durability: 'batch' });
    await log.append(events);
    await log.close();
    const seg = join(dir, segmentName(0));
    const intact = (await stat(seg)).size;
    await appendFile(seg, '1234abcd {"id":"01J","type":"DraftVer'); // killed mid-write
    const warnings: string[] = [];
    const reopened = await FileEventLog.open(dir, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`torn last record in ${seg} at byte ${intact}`);
    expect(reopened.recovery).toMatchObject({ file: seg, offset: intact, bytes: 37 });
    expect((await stat(seg)).size).toBe(intact);
    expect(await readFile(join(dir, 'quarantine', `${segmentName(0)}@${intact}.bad`), 'utf8')).toBe('1234abcd {"id":"01J","type":"DraftVer');
    expect((await readAll(reopened)).map((p) => p.event)).toEqual(events);
    expect(await reopened.append(contractEvents(1, 4))).toEqual(['10']);
    await reopened.close();
  });

  it('treats a last line with a bad checksum as torn too (nothing intact after it)', async () => {
    const dir = await fresh();
    const log = await FileEventLog.open(dir);
    await log.append(contractEvents(3, 5));
    await log.close();
    const seg = join(dir, segmentName(0));
    const size = (await stat(seg)).size;
    await truncate(seg, size - 5); // cut inside the last record, then a newline lands after it
    await appendFile(seg, '\n');
    const warnings: string[] = [];
    const reopened = await FileEventLog.open(dir, { onWarning: (m) => warnings.push(m) });
    expect(warnings[0]).toMatch(/checksum mismatch/);
    expect(reopened.length).toBe(2);
    await reopened.close();
  });

  it('a read-only open reports a torn tail but does not cut it', async () => {
    const dir = await fresh();
    const log = await FileEventLog.open(dir);
    await log.append(contractEvents(4, 6));
    await log.close();
    const seg = join(dir, segmentName(0));
    await appendFile(seg, '0000');
    const size = (await stat(seg)).size;
    const warnings: string[] = [];
    const ro = await FileEventLog.open(dir, { readOnly: true, onWarning: (m) => warnings.push(m) });
    expect(warnings[0]).toContain('skipped (read-only)');
    expect((await readAll(ro)).length).toBe(4);
    await expect(ro.append(contractEvents(1, 7))).rejects.toThrow(/read-only/);
    await ro.close();
    expect((await stat(seg)).size).toBe(size);
  });

  it('refuses to open when a corrupt record has intact records after it, naming file and offset', async () => {
    const dir = await fresh();
    const log = await FileEventLog.open(dir);
    await log.append(contractEvents(5, 8));
    await log.close();
    const seg = join(dir, segmentName(0));
    const buf = await readFile(seg);
    const second = buf.indexOf(0x0a) + 1;
    buf[second + 30] = buf[second + 30]! ^ 0x01; // flip a bit inside record 2
    await writeFile(seg, buf);
    await expect(FileEventLog.open(dir)).rejects.toThrow(
      new RegExp(`corrupt record in file ${seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at byte ${second}: checksum mismatch .*specstream log repair`),
    );
  });

  it('reports a corrupt record in an earlier segment when it is read', async () => {
    const dir = await fresh();
    const log = await FileEventLog.open(dir, { segmentBytes: 1024 });
    for (let i = 0; i < 10; i++) await log.append(contractEvents(3, 10 + i));
    await log.close();
    const seg = join(dir, segmentName(0));
    const buf = await readFile(seg);
    buf[12] = 0x7b; // damage the first record's JSON
    await writeFile(seg, buf);
    const ro = await FileEventLog.open(dir, { readOnly: true });
    await expect(readAll(ro)).rejects.toThrow(`corrupt record in file ${seg} at byte 0`);
    await ro.close();
  });

  it('names file, offset, field and event id when a record is intact but invalid', async () => {
    const dir = await fresh();
    const log = await FileEventLog.open(dir);
    await log.append(contractEvents(1, 11));
    const bad = { ...contractEvents(1, 12)[0]!, step: -3 };
    await expect(log.append([bad])).rejects.toThrow(/step: .*received -3/); // validated on append
    await log.close();
    const { frameRecord } = await import('./segmentFormat.js');
    const seg = join(dir, segmentName(0));
    const offset = (await stat(seg)).size;
    await appendFile(seg, frameRecord(JSON.stringify(bad)));
    const ro = await FileEventLog.open(dir, { readOnly: true });
    await expect(readAll(ro)).rejects.toThrow(`cannot decode event ${bad.id} (DraftVerified) from file ${seg} at byte ${offset}: step:`);
    await ro.close();
  });

  it('a read-only log follows what another writer appends, across segments', async () => {
    const dir = await fresh();
    const writer = await FileEventLog.open(dir, { segmentBytes: 1500, durability: 'never' });
    const first = contractEvents(4, 20);
    await writer.append(first);
    const reader = await FileEventLog.open(dir, { readOnly: true, pollMs: 10 });
    const later = contractEvents(30, 21, 'contract-worker', 40);
    const got = firstValueFrom(reader.follow('2').pipe(take(32), toArray()));
    for (let i = 0; i < 30; i += 3) await writer.append(later.slice(i, i + 3));
    const events = (await got).map((p) => p.event);
    expect(events).toEqual([...first.slice(2), ...later]);
    expect((await got).map((p) => p.position)).toEqual(Array.from({ length: 32 }, (_, i) => String(i + 2)));
    expect((await readdir(dir)).filter((n) => n.endsWith('.seg')).length).toBeGreaterThan(2);
    await reader.close();
    await writer.close();
  });

  it('admits one writer at a time', async () => {
    const dir = await fresh();
    const log = await FileEventLog.open(dir);
    await expect(FileEventLog.open(dir)).rejects.toThrow(`is open for writing by process ${process.pid}`);
    await log.close();
    await (await FileEventLog.open(dir)).close();
  });
});
