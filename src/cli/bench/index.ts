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
  /** Runs with the raw options after the name; prints its own report; returns the JSON summary. */
  run(options: Readonly<Record<string, string | boolean>>): Promise<Record<string, unknown>>;
}

export const benchmarks: Benchmark[] = [eventsBenchmark, kafkaBenchmark, trainBenchmark, decodeBenchmark, specBenchmark, poolBenchmark];
