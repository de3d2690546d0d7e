import { mergeMap, Observable, type OperatorFunction } from 'rxjs';
import type { SpecstreamEvent } from '../events/index.js';
import {
  emptyMetricsState,
  foldEvents,
  selectStep,
  selectStepMetrics,
  type MetricsState,
  type SelectOptions,
  type StepMetrics,
} from '../reducers/stepMetrics.js';
import type { EventLog } from './log/EventLog.js';

export type MetricsFormat = 'table' | 'json' | 'csv';

/** Events folded per reducer call during replay (one state copy per batch). */
const REPLAY_BATCH = 8192;

/**
 * Recomputes every step's metrics from a log — the same fold the live run uses.
 *
 * 1. Read the log from the start; keep events of steps in [fromStep, toStep] (steps fold
 *    independently, so skipping others changes nothing).
 * 2. Fold in batches of 8192 (`foldEvents`): one state copy per batch.
 * 3. Select one flat record per step (`--worker` narrows spec_decode/* to that worker).
 */
export async function replayLog(log: EventLog, options: SelectOptions = {}): Promise<StepMetrics[]> {
  const from = options.fromStep ?? -Infinity;
  const to = options.toStep ?? Infinity;
  // One subscriber with a hand-rolled buffer instead of map/filter/bufferCount/reduce: the
  // operator chain cost more per event than the fold itself (bench: `npm run bench -- events`).
  const state = await new Promise<MetricsState>((resolve, reject) => {
    let s = emptyMetricsState;
    let batch: SpecstreamEvent[] = [];
    log.read().subscribe({
      next: ({ event }) => {
        if (event.step < from || event.step > to) return;
        batch.push(event);
        if (batch.length === REPLAY_BATCH) {
          s = foldEvents(s, batch);
          batch = [];
        }
      },
      error: reject,
      complete: () => resolve(foldEvents(s, batch)),
    });
  });
  return selectStepMetrics(state, options);
}

/**
 * The live side: folds batches of events as they arrive and emits a step's metrics when its
 * `StepCompleted` arrives (every event of a step precedes its StepCompleted, so this is what a
 * replay of the log computes for that step). A duplicated StepCompleted emits nothing new.
 */
export function stepMetricsOnCompletion(options: SelectOptions = {}): OperatorFunction<readonly SpecstreamEvent[], StepMetrics> {
  return (source: Observable<readonly SpecstreamEvent[]>) =>
    new Observable<StepMetrics>((subscriber) => {
      let state = emptyMetricsState;
      const emitted = new Set<number>();
      return source
        .pipe(
          mergeMap((batch) => {
            state = foldEvents(state, batch);
            const done = batch.filter((e) => e.type === 'StepCompleted' && !emitted.has(e.step)).map((e) => e.step);
            return [...new Set(done)].sort((a, b) => a - b).map((step) => {
              emitted.add(step);
              return selectStep(step, state.steps.get(step)!, options);
            });
          }),
        )
        .subscribe(subscriber);
    });
}

const columnsOf = (rows: readonly StepMetrics[]): string[] => {
  const cols = new Set<string>(['step']);
  for (const r of rows) for (const k of Object.keys(r)) cols.add(k);
  return [...cols];
};

const cell = (v: number | undefined): string =>
  v === undefined ? '' : Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? v.toFixed(4) : v.toExponential(3);

/**
 * Renders step metrics as the live run and replay print them:
 * - `json`: one JSON object per step per line, every metric of the step, full precision;
 * - `csv`: a header of every metric seen, one row per step (empty where a step lacks one);
 * - `table`: one row per step, metrics as columns (spec_decode/ prefix shortened to sd/),
 *   numbers to 4 decimals.
 */
export function formatStepMetrics(rows: readonly StepMetrics[], format: MetricsFormat, metrics: MetricSelection = 'all'): string {
  const picked = metrics === 'all' ? rows : rows.map((r) => pickMetrics(r, metrics));
  if (format === 'json') return picked.map((r) => `${JSON.stringify(r)}\n`).join('');
  return formatColumns(picked, format);
}

/** `'all'`, or the metric names to keep (`step` always stays); unknown names are skipped. */
export type MetricSelection = 'all' | readonly string[];

/** The columns `specstream train` and `replay` show in a table unless `--metrics all`. */
export const SUMMARY_METRICS: readonly string[] = [
  'reward/mean',
  'rollout/mean_length',
  'spec_decode/acceptance_rate',
  'spec_decode/acceptance_length',
  'spec_decode/draft_efficiency',
  'train/loss',
  'train/kl',
  'train/grad_norm',
  'train/clip_fraction',
  'train/weights_version',
];

/** Parses `--metrics`: `all`, `summary` or a comma-separated list of metric names. */
export function parseMetricSelection(text: string): MetricSelection {
  if (text === 'all') return 'all';
  if (text === 'summary') return SUMMARY_METRICS;
  return text.split(',').map((m) => m.trim()).filter(Boolean);
}

function pickMetrics(row: StepMetrics, keep: readonly string[]): StepMetrics {
  const out: Record<string, number> = { step: row.step };
  for (const k of keep) if (row[k] !== undefined) out[k] = row[k]!;
  return out as StepMetrics;
}

function formatColumns(rows: readonly StepMetrics[], format: 'table' | 'csv'): string {
  const cols = columnsOf(rows);
  if (format === 'csv') {
    const lines = [cols.join(','), ...rows.map((r) => cols.map((c) => (r[c] === undefined ? '' : String(r[c]))).join(','))];
    return `${lines.join('\n')}\n`;
  }
  const header = cols.map((c) => c.replace(/^spec_decode\//, 'sd/'));
  const body = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(header), ...body.map(line)].join('\n') + '\n';
}
