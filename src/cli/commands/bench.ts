import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { benchmarks } from '../bench/index.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(`run a benchmark: ${benchmarks.map((b) => b.name).join(', ') || '(none yet)'}`)
    .argument('<name>', 'which benchmark')
    .option('--device <device>', 'execution provider: cpu | webgpu', 'cpu')
    .option('--quick', 'smaller sizes (smoke run)')
    .option('--out <dir>', 'where to write the JSON result', 'bench/results')
    .addHelpText('after', benchmarks.map((b) => `\n${b.name}: ${b.description}${(b.usage ?? []).map(([flag, what]) => `\n  ${flag.padEnd(32)} ${what}`).join('')}`).join('\n'))
    .allowUnknownOption(true)
    .allowExcessArguments(true) // a benchmark's own flags (e.g. --batches 1,8) arrive as extra args
    .action(async (name: string, opts: Record<string, string | boolean>, command: Command) => {
      const bench = benchmarks.find((b) => b.name === name);
      if (!bench) {
        throw new Error(`unknown benchmark "${name}"; available: ${benchmarks.map((b) => b.name).join(', ')}`);
      }
      // what the bench command does not know (flags and operands) is the benchmark's own
      const result = await bench.run(opts, command.args.slice(1));
      const out = String(opts['out']);
      mkdirSync(out, { recursive: true });
      // named by the device the result is about (bench pool: the pooled runs'), else --device's
      const device = typeof result['device'] === 'string' ? result['device'] : opts['device'];
      writeFileSync(`${out}/${name}${device === 'webgpu' ? '-webgpu' : ''}.json`, JSON.stringify(result, null, 2) + '\n');
    });
}
