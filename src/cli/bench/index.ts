import { kafkaBenchmark } from './kafka.js';
import { eventsBenchmark } from './events.js';
import { trainBenchmark } from './train.js';
import { decodeBenchmark } from './decode.js';
import { specBenchmark } from './spec.js';
import { poolBenchmark } from './pool.js';
/**
 * Benchmarks, run with `npm run bench -- <name> [options]`. Each benchmark is one file in this
 * folder exporting a `Benchmark`; its output is printed and also written as JSON under
 * `bench/results/<name>.json` (top-level `bench/` keeps the latest results quoted in the README).
 */
export interface Benchmark {
  name: string;
  description: string;
  /** Its own flags and what they do, for `specstream bench --help`. */
  usage?: ReadonlyArray<readonly [string, string]>;
  /**
   * Runs with the bench command's options (`--device`, `--quick`, `--out`) and the benchmark's
   * own arguments after its name (`benchArgs` splits them); prints its own report; returns the
   * JSON summary.
   */
  run(options: Readonly<Record<string, string | boolean>>, args: readonly string[]): Promise<Record<string, unknown>>;
}

/**
 * A benchmark's own arguments: `--key value`, `--key=value` and bare `--flag` pairs, and the
 * operands (arguments that are no flag's value, e.g. `bench pool`'s files).
 */
export function benchArgs(args: readonly string[]): { flags: Record<string, string | boolean>; operands: string[] } {
  const flags: Record<string, string | boolean> = {};
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) operands.push(a);
    else if (a.includes('=')) flags[a.slice(2, a.indexOf('='))] = a.slice(a.indexOf('=') + 1);
    else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) flags[a.slice(2)] = args[++i]!;
    else flags[a.slice(2)] = true;
  }
  return { flags, operands };
}

export const benchmarks: Benchmark[] = [eventsBenchmark, kafkaBenchmark, trainBenchmark, decodeBenchmark, specBenchmark, poolBenchmark];
