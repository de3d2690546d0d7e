import type { Command } from 'commander';
import { runTrainCheck } from '../../gpu/train/trainCheck.js';

/** `specstream train-check --out <dir>`: exports one GRPO train step for test/reference/torch_grpo_check.py. */
export function registerTrainCheck(program: Command): void {
  program
    .command('train-check')
    .description('export a random small model, a GRPO batch, and specstream\'s loss + gradients (for test/reference/torch_grpo_check.py)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--seed <n>', 'random seed', '1')
    .option('--device <device>', 'device of the float32 train step: cpu | webgpu', 'cpu')
    .action(async (opts: { out: string; seed: string; device: string }) => {
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer; got "${opts.seed}"`);
      if (opts.device !== 'cpu' && opts.device !== 'webgpu') throw new Error(`--device must be cpu or webgpu; got "${opts.device}"`);
      const r = await runTrainCheck({ out: opts.out, seed, device: opts.device });
      for (const [k, v] of Object.entries(r)) {
        const loss = (v as { loss: number }).loss;
        process.stdout.write(`${k.padEnd(22)} loss ${loss.toPrecision(12)}\n`);
      }
      process.stdout.write(`wrote ${opts.out}/{model/,batch.json,result.json,grads_*.safetensors}\n`);
    });
}
