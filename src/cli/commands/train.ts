import { InvalidArgumentError, type Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Subject } from 'rxjs';
import { FileEventLog } from '../../streams/log/FileEventLog.js';
import { KafkaEventLog } from '../../streams/log/KafkaEventLog.js';
import { defaultTopology } from '../../streams/log/kafka/topics.js';
import { parseDurability } from '../../streams/log/durability.js';
import type { EventLog } from '../../streams/log/EventLog.js';
import { applyOverrides, loadRunConfig, parseRunConfig, type RunConfig } from '../../streams/pipeline/runConfig.js';
import { runGrpo } from '../../streams/pipeline/grpoRun.js';
import { formatStepMetrics, parseMetricSelection, type MetricSelection, type MetricsFormat } from '../../streams/replay.js';
import type { StepMetrics } from '../../reducers/stepMetrics.js';
import { loadTask } from '../../tasks/index.js';
import { startDashboard, type Dashboard } from '../../dashboard/server.js';

const formatArg = (v: string): MetricsFormat => {
  if (v !== 'table' && v !== 'json' && v !== 'csv') throw new InvalidArgumentError(`expected table, json or csv, received "${v}"`);
  return v;
};
const collect = (v: string, prev: string[]) => [...prev, v];

/** A run id that sorts by start time: `run-20261126-031500`. */
const newRunId = () => `run-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;

async function openLog(config: RunConfig, runId: string, runDir: string): Promise<{ log: EventLog; where: string }> {
  if (config.log.kind === 'file') {
    const dir = join(runDir, 'events');
    const log = await FileEventLog.open(dir, { durability: parseDurability(config.log.durability) });
    return { log, where: dir };
  }
  // one set of topics per run, so runs never mix in a replay
  const prefix = `${config.log.topicPrefix}.${runId}`;
  const log = new KafkaEventLog({ brokers: config.log.brokers, topology: defaultTopology(prefix) });
  return { log, where: `kafka://${config.log.brokers.join(',')}/${prefix}` };
}

/** `specstream train`: a GRPO run with speculative-decoding rollouts (what `npm start` runs). */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('run GRPO with speculative-decoding rollouts; prints per-step metrics and writes an event log')
    .option('-c, --config <file>', 'JSON run config (defaults: configs/default.json)')
    .option('-s, --set <key=value>', 'override a config key, e.g. --set steps=10 --set speculative.k=auto', collect, [])
    .option('--format <format>', 'per-step metrics on stdout: table | json | csv (json/csv lines are exactly what `specstream replay --format …` prints)', formatArg, 'table')
    .option('--metrics <which>', 'metrics to print: summary (default for table), all (default for json/csv), or a comma-separated list', parseMetricSelection)
    .option('--dashboard [port]', 'serve the live dashboard (default port: any free one)')
    .option('--keep-dashboard', 'keep the dashboard up after the run until Ctrl-C')
    .action(async (opts: { config?: string; set: string[]; format: MetricsFormat; metrics?: MetricSelection; dashboard?: string | boolean; keepDashboard?: boolean }) => {
      const base = opts.config ? loadRunConfig(opts.config) : parseRunConfig({});
      const config = opts.set.length
        ? parseRunConfig(applyOverrides(base as unknown as Record<string, unknown>, opts.set), `${opts.config ?? 'defaults'} + --set`)
        : base;
      const runId = config.runId ?? newRunId();
      const runDir = resolve(config.log.kind === 'file' ? config.log.dir : 'runs', runId);
      mkdirSync(runDir, { recursive: true });
      writeFileSync(join(runDir, 'config.json'), JSON.stringify({ ...config, runId }, null, 2) + '\n');
      const task = await loadTask(config.task);
      const { log, where } = await openLog(config, runId, runDir);
      const say = (line: string) => process.stderr.write(`specstream: ${line}\n`);
      say(`run ${runId}: task ${task.name}, ${config.steps} steps × ${config.promptsPerStep} prompts × ${config.groupSize} samples, drafter ${config.speculative.drafter} (k=${config.speculative.k}), device ${config.model.device}`);
      say(`event log: ${where}`);
      if (config.generation === 'workers') say(`generation: workers (consumer group ${where.slice(where.lastIndexOf('/') + 1)}.generation); this process waits for their rollouts`);

      let dashboard: Dashboard | undefined;
      const live = new Subject<StepMetrics>();
      if (opts.dashboard !== undefined) {
        const port = typeof opts.dashboard === 'string' ? Number(opts.dashboard) : 0;
        dashboard = await startDashboard({ metrics$: live, title: runId, port });
        say(`dashboard: ${dashboard.url}`);
      }
      const rows: StepMetrics[] = [];
      const metrics = opts.metrics ?? (opts.format === 'table' ? parseMetricSelection('summary') : 'all');
      try {
        const result = await runGrpo({
          config,
          runId,
          log,
          task,
          runDir,
          onProgress: say,
          ...(config.log.kind === 'kafka'
            ? { workerCommand: `specstream worker --brokers ${config.log.brokers.join(',')} --run ${config.log.topicPrefix}.${runId}` }
            : {}),
          onStepMetrics: (row) => {
            rows.push(row);
            live.next(row);
            if (opts.format !== 'table') {
              const text = formatStepMetrics([row], opts.format, metrics);
              process.stdout.write(opts.format === 'csv' && rows.length > 1 ? text.slice(text.indexOf('\n') + 1) : text);
            }
          },
        });
        live.complete();
        if (opts.format === 'table') process.stdout.write(formatStepMetrics(rows, 'table', metrics));
        say(`final weights: ${result.finalCheckpoint}`);
        say(`replay with: specstream replay ${where}`);
      } finally {
        await log.close();
        if (dashboard && opts.keepDashboard) {
          say('dashboard stays up; Ctrl-C to stop');
          await new Promise<void>((r) => process.once('SIGINT', () => r()));
        }
        await dashboard?.close();
      }
    });
}
