import type { Command } from 'commander';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { lastValueFrom, reduce } from 'rxjs';
import { FileEventLog } from '../../streams/log/FileEventLog.js';
import { repairLog } from '../../streams/log/repair.js';
import { parseSegmentName } from '../../streams/log/segmentFormat.js';

/** `specstream log repair|inspect <log>`: maintenance of a file event log. */
export function registerLog(program: Command): void {
  const log = program.command('log').description('maintain a file event log');

  log
    .command('repair')
    .description('move damaged records into <log>/quarantine/ (never dropped) so the log opens again')
    .argument('<log>', 'event log directory')
    .action(async (dir: string) => {
      const report = await repairLog(dir);
      if (report.quarantined.length === 0) {
        process.stdout.write(`${dir}: no damage found; ${report.records} records intact\n`);
        return;
      }
      for (const q of report.quarantined) {
        process.stdout.write(`moved ${q.length} bytes of ${q.segment} at byte ${q.offset} (${q.reason}) to ${join(dir, 'quarantine', q.savedAs)}\n`);
      }
      for (const s of report.removed) process.stdout.write(`deleted ${s}: nothing intact was left in it\n`);
      for (const [from, to] of report.renamed) process.stdout.write(`renamed ${from} → ${to}\n`);
      process.stdout.write(`${dir}: ${report.records} records intact; positions after a moved record shift down\n`);
    });

  log
    .command('inspect')
    .description('segments, event counts per type, steps and sources of a log')
    .argument('<log>', 'event log directory')
    .action(async (dir: string) => {
      const l = await FileEventLog.open(dir, { readOnly: true, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
      try {
        const names = (await readdir(dir)).filter((n) => parseSegmentName(n) !== undefined).sort();
        let bytes = 0;
        for (const n of names) bytes += (await stat(join(dir, n))).size;
        const s = await lastValueFrom(
          l.read().pipe(
            reduce(
              (acc, { event: e }) => {
                acc.types.set(e.type, (acc.types.get(e.type) ?? 0) + 1);
                acc.sources.add(e.source);
                acc.runs.add(e.runId);
                acc.minStep = Math.min(acc.minStep, e.step);
                acc.maxStep = Math.max(acc.maxStep, e.step);
                return acc;
              },
              { types: new Map<string, number>(), sources: new Set<string>(), runs: new Set<string>(), minStep: Infinity, maxStep: -Infinity },
            ),
          ),
        );
        const lines = [
          `log ${dir}: ${l.length} events, ${names.length} segment(s), ${bytes} bytes`,
          `runs: ${[...s.runs].join(', ') || '-'}`,
          `steps: ${l.length > 0 ? `${s.minStep}..${s.maxStep}` : '-'}`,
          `sources: ${[...s.sources].sort().join(', ') || '-'}`,
          ...[...s.types].sort().map(([t, n]) => `  ${t}: ${n}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await l.close();
      }
    });
}
