import { InvalidArgumentError, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadTask } from '../../tasks/index.js';
import { distillDraft, supervisedWarmup, type WarmupOptions } from '../../streams/pipeline/warmup.js';

const positiveInt = (v: string): number => {
  if (!/^[1-9]\d*$/.test(v)) throw new InvalidArgumentError(`expected a positive integer, received "${v}"`);
  return Number(v);
};
const positiveNumber = (v: string): number => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`expected a positive number, received "${v}"`);
  return n;
};
const deviceArg = (v: string) => {
  if (v !== 'cpu' && v !== 'webgpu') throw new InvalidArgumentError(`expected cpu or webgpu, received "${v}"`);
  return v;
};

interface Opts { model: string; out: string; task: string; steps: number; batch: number; seqLen: number; lr: number; seed: number; device: 'cpu' | 'webgpu'; teacher?: string }

function common(cmd: Command, lr: string): Command {
  return cmd
    .requiredOption('--model <dir>', 'model directory to start from (config.json, model.safetensors, tokenizer.json)')
    .requiredOption('--out <dir>', 'where to write the trained model directory')
    .option('--task <names>', 'comma-separated tasks whose demonstrations to train on', 'copy,sort')
    .option('--steps <n>', 'optimizer steps', positiveInt, 300)
    .option('--batch <n>', 'sequences per step', positiveInt, 32)
    .option('--seq-len <n>', 'tokens per sequence (padded)', positiveInt, 24)
    .option('--lr <rate>', 'peak learning rate (linear warm-up, cosine decay)', positiveNumber, Number(lr))
    .option('--seed <n>', 'seed of the demonstration sampler', (v) => Number.parseInt(v, 10), 0)
    .option('--device <device>', 'cpu | webgpu', deviceArg, 'cpu');
}

async function withProgress(label: string, opts: Opts, run: (o: WarmupOptions) => Promise<number>): Promise<void> {
  const tasks = await Promise.all(opts.task.split(',').map((t) => loadTask(t.trim())));
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} steps | loss {loss}`, hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  bar.start(opts.steps, 0, { loss: '-' });
  try {
    const loss = await run({ ...opts, tasks, onProgress: (step, l) => bar.update(step, { loss: l.toFixed(4) }) });
    bar.stop();
    process.stderr.write(`${label}: final loss ${loss.toFixed(4)}; wrote ${opts.out}\n`);
  } catch (err) {
    bar.stop();
    throw err;
  }
}

/** `specstream sft` (supervised warm-up) and `specstream distill` (draft from the policy). */
export function registerWarmup(program: Command): void {
  common(program.command('sft').description('supervised warm-up: token cross-entropy on task demonstrations'), '3e-3').action((o: Opts) =>
    withProgress('sft', o, supervisedWarmup),
  );
  common(program.command('distill').description("distil a draft model from the policy's logits (soft cross-entropy)"), '3e-3')
    .requiredOption('--teacher <dir>', 'the policy whose distribution the draft learns')
    .action((o: Opts) => withProgress('distill', o, (w) => distillDraft({ ...w, teacher: o.teacher! })));
}
