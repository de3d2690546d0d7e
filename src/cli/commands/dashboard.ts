import { InvalidArgumentError, type Command } from 'commander';
import { bufferTime, filter, map } from 'rxjs';
import { startDashboard } from '../../dashboard/server.js';
import { stepMetricsOnCompletion } from '../../streams/replay.js';
import { openLogForReading } from '../logs.js';

const portArg = (v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError(`expected a port number, received "${v}"`);
  return Number(v);
};

/**
 * `specstream dashboard <log>`: the dashboard of a stored or running log. The page gets every
 * step the log holds, then (unless --no-follow) each step a writer completes later — the same
 * fold as `specstream replay` and the live run.
 */
export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('serve the metrics dashboard of an event log (file directory or kafka://brokers/prefix), live while it grows')
    .argument('<log>', 'event log directory, or kafka://host:port[,host:port…]/<topic prefix>')
    .option('--port <port>', 'port to listen on (default: any free one)', portArg, 0)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--no-follow', 'show what the log holds now, then stop updating')
    .action(async (where: string, opts: { port: number; host: string; follow: boolean }) => {
      const log = await openLogForReading(where);
      const events$ = opts.follow ? log.follow() : log.read();
      const metrics$ = events$.pipe(
        map((p) => p.event),
        bufferTime(100),
        filter((batch) => batch.length > 0),
        stepMetricsOnCompletion(),
      );
      const dashboard = await startDashboard({ metrics$, title: where, port: opts.port, host: opts.host });
      process.stderr.write(`specstream dashboard: ${dashboard.url} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      await dashboard.close();
      await log.close();
    });
}
