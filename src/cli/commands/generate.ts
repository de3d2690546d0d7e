import type { Command } from 'commander';
import { loadDecoder } from '../../gpu/runtime/loadDecoder.js';
import type { Decoder, Device } from '../../gpu/runtime/Decoder.js';
import { generate } from '../../gpu/sampling/generate.js';
import type { GenerateResult } from '../../gpu/sampling/generate.js';
import type { SamplingParams } from '../../gpu/sampling/sample.js';
import { processorsFor } from '../../gpu/sampling/sample.js';

/** Parsed, validated options of `specstream generate` (plus raw extras for extensions). */
export interface GenerateCliOptions {
  readonly model: string;
  readonly promptIds: number[];
  readonly params: SamplingParams;
  readonly maxNewTokens: number;
  readonly seed: number;
  readonly n: number;
  readonly device: Device;
  readonly format: 'text' | 'json';
  readonly stop: string[];
  /** Every option commander parsed, for extensions (e.g. --draft, --k). */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** What an extension's run gets: the loaded model and a callback for streaming. */
export interface GenerateContext {
  readonly decoder: Decoder;
  readonly options: GenerateCliOptions;
  readonly onToken: (sample: number, token: number, logprob: number) => void;
}

/**
 * A way of generating that replaces plain sampling when its options are given — the hook the
 * speculative-decoding options (--draft, --drafter, --k, --stats) plug into:
 * `generateModes.push({ addOptions, applies, run })` from their module, imported by this file's
 * caller before `registerGenerate` runs.
 */
export interface GenerateMode {
  readonly name: string;
  addOptions(cmd: Command): void;
  applies(options: GenerateCliOptions): boolean;
  run(ctx: GenerateContext): Promise<GenerateResult[]>;
}

export const generateModes: GenerateMode[] = [];

const int = (name: string, min: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}; got "${v}"`);
  return n;
};
const num = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number; got "${v}"`);
  return n;
};

/** Turns commander's raw options into validated `GenerateCliOptions` (tokenizes the prompt). */
export function parseGenerateOptions(raw: Record<string, unknown>, decoder: Decoder): GenerateCliOptions {
  const device = String(raw['device'] ?? 'cpu');
  if (device !== 'cpu' && device !== 'webgpu') throw new Error(`--device must be cpu or webgpu; got "${device}"`);
  const format = String(raw['format'] ?? 'text');
  if (format !== 'text' && format !== 'json') throw new Error(`--format must be text or json; got "${format}"`);
  let promptIds: number[];
  if (raw['promptIds'] !== undefined) {
    promptIds = String(raw['promptIds']).split(',').map((s, i) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 0 || n >= decoder.info.vocabSize) throw new Error(`--prompt-ids: entry ${i} "${s}" is not a token id in [0, ${decoder.info.vocabSize})`);
      return n;
    });
  } else if (raw['prompt'] !== undefined) {
    if (!decoder.tokenizer) throw new Error(`--prompt needs a tokenizer.json in ${decoder.info.name}; pass --prompt-ids instead`);
    promptIds = decoder.tokenizer.encode(String(raw['prompt'])).ids;
  } else throw new Error('give --prompt TEXT or --prompt-ids 1,2,3');
  if (promptIds.length === 0) {
    if (decoder.info.bosTokenId === undefined) throw new Error('the prompt is empty and the model has no bos_token_id');
    promptIds = [decoder.info.bosTokenId];
  }
  const params: SamplingParams = { temperature: raw['temperature'] as number, topK: raw['topK'] as number, topP: raw['topP'] as number };
  processorsFor(params); // validates
  return {
    model: String(raw['model']),
    promptIds,
    params,
    maxNewTokens: raw['maxNewTokens'] as number,
    seed: raw['seed'] as number,
    n: raw['n'] as number,
    device,
    format,
    stop: (raw['stop'] as string[] | undefined) ?? [],
    raw,
  };
}

/**
 * `specstream generate`: sample from a model directory.
 * 1. Loads the model (model.onnx or config.json + model.safetensors) on the device.
 * 2. Tokenizes the prompt, runs `n` samples as one batch (sample i uses RNG stream i of --seed).
 * 3. text: with one sample, streams the text as tokens come; with several, prints each sample
 *    when it finishes. json: one object per sample per line.
 */
export function registerGenerate(program: Command): void {
  const cmd = program
    .command('generate')
    .description('generate text from a model directory (model.onnx or config.json + model.safetensors)')
    .requiredOption('--model <dir>', 'model directory')
    .option('--prompt <text>', 'prompt text (tokenized with the model tokenizer)')
    .option('--prompt-ids <ids>', 'prompt token ids, comma-separated (instead of --prompt)')
    .option('--max-new-tokens <n>', 'tokens to generate at most per sample', int('max-new-tokens', 1), 64)
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', num('temperature'), 1)
    .option('--top-k <k>', 'keep the k most likely tokens; 0 = off', int('top-k', 0), 0)
    .option('--top-p <p>', 'nucleus sampling mass; 1 = off', num('top-p'), 1)
    .option('--seed <s>', 'random seed', int('seed', 0), 0)
    .option('--n <samples>', 'number of samples (one batch)', int('n', 1), 1)
    .option('--stop <string...>', 'stop strings')
    .option('--device <device>', 'cpu | webgpu', 'cpu')
    .option('--format <format>', 'text | json', 'text');
  for (const mode of generateModes) mode.addOptions(cmd);
  cmd.action(async (raw: Record<string, unknown>) => {
    const device = String(raw['device']) as Device;
    if (device !== 'cpu' && device !== 'webgpu') throw new Error(`--device must be cpu or webgpu; got "${device}"`);
    const decoder = await loadDecoder(String(raw['model']), { device });
    try {
      const options = parseGenerateOptions(raw, decoder);
      const tok = decoder.tokenizer;
      const streamed: number[] = [];
      let printed = '';
      const onToken = (sample: number, token: number) => {
        if (options.format !== 'text' || options.n !== 1 || !tok) return;
        streamed.push(token);
        // print the newly completed text (a token may end mid-character: wait for the rest)
        const text = tok.decode(streamed, { skip_special_tokens: true });
        if (text.startsWith(printed) && !text.endsWith('\uFFFD')) {
          process.stdout.write(text.slice(printed.length));
          printed = text;
        }
        void sample;
      };
      const mode = generateModes.find((m) => m.applies(options));
      const results = mode
        ? await mode.run({ decoder, options, onToken })
        : await generate(decoder, {
            prompts: Array.from({ length: options.n }, () => options.promptIds),
            params: options.params,
            maxNewTokens: options.maxNewTokens,
            seed: options.seed,
            stopStrings: options.stop,
            onToken,
          });
      results.forEach((r, i) => {
        if (options.format === 'json') {
          process.stdout.write(
            JSON.stringify({
              sample: i, prompt_token_ids: options.promptIds, token_ids: r.tokenIds, text: r.text ?? null, logprobs: r.logprobs, finish_reason: r.finishReason,
              ...('stats' in r ? { stats: r.stats } : {}), // speculative modes add their counters
            }) + '\n',
          );
        } else if (options.n === 1 && tok) {
          if (r.text !== undefined && r.text.startsWith(printed)) process.stdout.write(r.text.slice(printed.length));
          process.stdout.write('\n');
        } else {
          process.stdout.write(`--- sample ${i} (${r.finishReason}, ${r.tokenIds.length} tokens) ---\n${r.text ?? r.tokenIds.join(' ')}\n`);
        }
      });
    } finally {
      await decoder.release();
    }
  });
}
