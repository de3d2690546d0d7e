import { Command } from 'commander';
import { commands } from './commands/index.js';

/** The `specstream` command. Each sub-command lives in `./commands/<name>.ts`. */
export function buildProgram(): Command {
  const program = new Command('specstream')
    .description(
      'GRPO post-training with speculative-decoding rollouts, as an event-sourced pipeline on ONNX Runtime.',
    )
    .version('0.1.0')
    .showHelpAfterError();
  for (const register of commands) register(program);
  return program;
}
