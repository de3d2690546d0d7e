import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { benchArgs, type Benchmark } from './index.js';
import { median, medianInterval } from './stats.js';

/**
 * `bench pool FILE…`: the paired repetitions of several `bench spec` results pooled per row.
 *
 * One `bench spec` run gives each row 6–12 paired ratios (a run's tokens/s over the mean of the
 * plain runs around it); on the shared GPU machines their median moves by ±5% between sittings
 * (the A/A row), more than the 3% the adaptive-k aim leaves. A session's device time gives one
 * or two such runs per configuration, so the evidence is spread over runs and sessions. Pooling
 * their ratios — every run of the same code, model pair and workload — gives one median per row
 * over all of them and a confidence interval that narrows with the total count.
 */

/** The part of a `bench spec` JSON result the pool reads (spec.ts writes it). */
const specResult = z.object({
  device: z.enum(['cpu', 'webgpu']),
  fused: z.boolean().optional(),
  config: z.record(z.string(), z.unknown()),
  rows: z.array(
    z.object({
      batch: z.number().int().positive(),
      drafter: z.string(),
      k: z.string(),
      pairedRatios: z.array(z.number().positive()).optional(),
    }),
  ),
});
export type SpecResult = z.infer<typeof specResult>;

export interface PooledRow {
  readonly batch: number;
  readonly drafter: string;
  readonly k: string;
  /** Runs that had the row, and their paired ratios' count in all. */
  readonly runs: number;
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** `medianInterval` of the pooled ratios (90% or the closest coverage above). */
  readonly interval: { lo: number; hi: number; coverage: number };
  /** Each run's own median, in the order of the files. */
  readonly runMedians: readonly number[];
}

/** Parses one `bench spec` JSON result; errors name the file and what is wrong. */
export function parseSpecResult(text: string, file: string): SpecResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`bench pool: ${file} is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const parsed = specResult.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`bench pool: ${file} is not a bench spec result: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Pools the paired ratios of every row (batch, drafter, k) over `results`, which must share the
 * device, the graph and the workload (`config`: model pair, lengths, temperature): ratios
 * measured on different pairs or workloads are not draws of one distribution. The fixed draft
 * lengths a run measured (`kFixed`, one or a list) are no part of the setup: a fixed-k row is
 * labelled by its k, and a row pools with the rows of that label in the other runs. Rows
 * without paired ratios (plain, generate) are left out; rows come by batch size, within one in
 * order of first appearance.
 */
export function poolPaired(results: ReadonlyArray<{ file: string; result: SpecResult }>): PooledRow[] {
  if (results.length === 0) throw new Error('bench pool: no results to pool; give the bench spec JSON files (e.g. bench/gpu/json/*.json)');
  const first = results[0]!;
  for (const { file, result } of results.slice(1)) {
    const differ = differences(first.result, result);
    if (differ.length > 0) {
      throw new Error(`bench pool: ${file} was measured on another setup than ${first.file} (${differ.join('; ')}); pool only runs of the same device, graph and workload`);
    }
  }
  const groups = new Map<string, { batch: number; drafter: string; k: string; ratios: number[]; runMedians: number[] }>();
  for (const { result } of results) {
    for (const row of result.rows) {
      if (!row.pairedRatios || row.pairedRatios.length === 0) continue;
      const id = `${row.batch} ${row.drafter} ${row.k}`;
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { batch: row.batch, drafter: row.drafter, k: row.k, ratios: [], runMedians: [] }));
      g.ratios.push(...row.pairedRatios);
      g.runMedians.push(median(row.pairedRatios));
    }
  }
  return [...groups.values()].sort((a, b) => a.batch - b.batch).map((g) => ({
    batch: g.batch,
    drafter: g.drafter,
    k: g.k,
    runs: g.runMedians.length,
    n: g.ratios.length,
    median: median(g.ratios),
    min: Math.min(...g.ratios),
    max: Math.max(...g.ratios),
    interval: medianInterval(g.ratios, 0.9),
    runMedians: g.runMedians,
  }));
}

/** `config` keys that say which rows a run measured, not how: no part of the setup (`poolPaired`). */
const ROW_SELECTION = new Set(['kFixed']);

/** What differs between two results' setups (device, graph, each `config` key but `ROW_SELECTION`), as "name a ≠ b" strings; none: the same setup. */
function differences(a: SpecResult, b: SpecResult): string[] {
  const out: string[] = [];
  if (a.device !== b.device) out.push(`device ${a.device} ≠ ${b.device}`);
  if ((a.fused ?? false) !== (b.fused ?? false)) out.push(`fused ${String(a.fused ?? false)} ≠ ${String(b.fused ?? false)}`);
  for (const name of new Set([...Object.keys(a.config), ...Object.keys(b.config)])) {
    if (ROW_SELECTION.has(name)) continue;
    const [x, y] = [JSON.stringify(a.config[name]), JSON.stringify(b.config[name])];
    if (x !== y) out.push(`${name} ${x ?? '(absent)'} ≠ ${y ?? '(absent)'}`);
  }
  return out;
}

/** The report: one line per pooled row. */
export function formatPool(rows: readonly PooledRow[]): string {
  const f = (x: number) => x.toFixed(2);
  const lines = [`batch  drafter  k      runs  n    paired  ${'interval of the median'.padEnd(29)} range       per-run medians`];
  for (const r of rows) {
    lines.push(
      `${String(r.batch).padEnd(6)} ${r.drafter.padEnd(8)} ${r.k.padEnd(6)} ${String(r.runs).padEnd(5)} ${String(r.n).padEnd(4)} ${f(r.median).padEnd(7)} ` +
        `${`${f(r.interval.lo)}–${f(r.interval.hi)} (${Math.round(100 * r.interval.coverage)}%)`.padEnd(29)} ${`${f(r.min)}–${f(r.max)}`.padEnd(11)} ${r.runMedians.map(f).join(' ')}`,
    );
  }
  return lines.join('\n');
}

export const poolBenchmark: Benchmark = {
  name: 'pool',
  description: 'pools the paired repetitions of several bench spec JSON results (e.g. GPU runs of different sessions) per row: median, confidence interval, per-run medians',
  usage: [['FILE…', 'bench spec results of the same device, graph and workload (e.g. bench/gpu/json/*.json)']],
  async run(_options, args) {
    const { flags, operands: files } = benchArgs(args);
    const unknown = Object.keys(flags);
    if (unknown.length > 0) throw new Error(`bench pool: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `--${u}`).join(', ')}; it takes only files (and the bench command's --out)`);
    const results = files.map((file) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new Error(`bench pool: cannot read ${file} (${err instanceof Error ? err.message : String(err)})`);
      }
      return { file, result: parseSpecResult(text, file) };
    });
    const rows = poolPaired(results);
    const { device, fused } = results[0]!.result;
    console.log(`${files.length} bench spec result(s) on ${device}${fused ? ' (fused graph)' : ''}, paired ratios pooled per row (a run's tokens/s over the mean of the plain runs around it); the interval is the distribution-free one of the pooled median`);
    console.log(formatPool(rows));
    return { files, device, fused: fused ?? false, config: results[0]!.result.config, rows };
  },
};
