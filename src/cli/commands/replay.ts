import { InvalidArgumentError, type Command } from 'commander';
import { openLogForReading } from '../logs.js';
import { formatStepMetrics, parseMetricSelection, type MetricSelection, replayLog, type MetricsFormat } from '../../streams/replay.js';

const stepArg = (v: string): number => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`expected a step number ≥ 0, received "${v}"`);
  return Number(v);
};
const formatArg = (v: string): MetricsFormat => {
  if (v !== 'table' && v !== 'json' && v !== 'csv') throw new InvalidArgumentError(`expected table, json or csv, received "${v}"`);
  return v;
};

/** `specstream replay <log>`: recomputes every per-step metric from an event log. */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('recompute per-step metrics from an event log (the same fold the live run prints)')
    .argument('<log>', 'event log directory, or kafka://host:port[,host:port…]/<topic prefix> for a log on Kafka')
    .option('--from-step <N>', 'first step to include', stepArg)
    .option('--to-step <M>', 'last step to include', stepArg)
    .option('--worker <ID>', "only this worker's spec_decode/* counters")
    .option('--format <format>', 'table | json (one object per step per line) | csv', formatArg, 'table')
    .option('--metrics <which>', 'metrics to print: summary (default for table), all (default for json/csv), or a comma-separated list', parseMetricSelection)
    .action(async (dir: string, opts: { fromStep?: number; toStep?: number; worker?: string; format: MetricsFormat; metrics?: MetricSelection }) => {
      const log = await openLogForReading(dir);
      try {
        const rows = await replayLog(log, {
          ...(opts.fromStep !== undefined && { fromStep: opts.fromStep }),
          ...(opts.toStep !== undefined && { toStep: opts.toStep }),
          ...(opts.worker !== undefined && { worker: opts.worker }),
        });
        process.stdout.write(formatStepMetrics(rows, opts.format, opts.metrics ?? (opts.format === 'table' ? parseMetricSelection('summary') : 'all')));
      } finally {
        await log.close();
      }
    });
}
