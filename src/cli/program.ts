import { Command } from 'commander';
import { commands } from './commands/index.js';

/** The `specstream` command. Each sub-command lives in `./commands/<name>.ts`. */
export function buildProgram(): Command {
  const program = new Command('specstream')
    .description(
      'GRPO post-training with speculative-decoding rollouts, as an event-sourced pipeline on ONNX Runtime.',
    )
    .version('0.1.0')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nOn a CPU, train, generate, bench, sft, distill and train-check start themselves again in a Node with\n' +
        '--single-threaded-gc (faster there: docs/cpu.md); not under --device webgpu. SPECSTREAM_GC=concurrent\n' +
        'keeps Node\'s default, SPECSTREAM_GC=single forces the flag. Start CPU workers with the flag yourself.',
    );
  for (const register of commands) register(program);
  return program;
}
