import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, toHfConfig } from './config.js';
import type { LlamaConfig } from './config.js';
import { randomWeights } from './llamaWeights.js';
import { trainByteBpe, tokenizerJson } from './byteBpe.js';
import { Xoshiro128 } from '../sampling/rng.js';
import { writeSafetensors } from '../weights/safetensors.js';

/**
 * The bundled tiny models, `models/tiny-policy` and `models/tiny-draft`: Llama-style decoders
 * with seeded random weights and one shared byte-level BPE tokenizer (512 tokens), small enough
 * to ship in the repository and run a GRPO demo on a laptop CPU. Training later overwrites the
 * weights; this generator stays the reproducible source of the initial files.
 *
 * Run: `npm run build && node dist/gpu/model/bundled.js [modelsDir]`.
 */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|bos|>', '<|pad|>'] as const;
export const VOCAB_SIZE = 512;

/** Text the tokenizer's merges are learned from: the built-in tasks' words and plain English. */
const CORPUS = `
copy sort copy sort copy sort = copy = sort = the answer is = done.
The quick brown fox jumps over the lazy dog. A language model reads a prompt and writes the
next token, one at a time, until it writes the end of text token or reaches its limit.
Speculative decoding lets a small draft model propose several tokens that the large target
model checks in one pass; tokens the target agrees with are kept, and the first one it rejects
is replaced by a sample from the difference of the two distributions, so the output follows
the target model exactly. Reinforcement learning from verifiable rewards samples a group of
answers per prompt, scores each answer, and moves the policy towards the better ones.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 20 50 100 1000. Events are appended to a log, and
reducers fold the log into metrics that are the same live and on replay. This is a test. It
is only a test. There are many more words in the world than in this short text, and that is
fine: bytes cover everything the merges do not.
`.repeat(2);

export function bundledConfigs(): { policy: LlamaConfig; draft: LlamaConfig } {
  const common = { vocab_size: VOCAB_SIZE, bos_token_id: 1, eos_token_id: 0, pad_token_id: 2, rope_theta: 10000, rms_norm_eps: 1e-5, max_position_embeddings: 512 };
  return {
    policy: parseConfig({ ...common, model_type: 'llama', hidden_size: 64, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 192, tie_word_embeddings: false }, 'tiny-policy'),
    draft: parseConfig({ ...common, model_type: 'llama', hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 96, tie_word_embeddings: true }, 'tiny-draft'),
  };
}

/** The shared tokenizer files (tokenizer.json, tokenizer_config.json) as objects. */
export function bundledTokenizer(): { tokenizer: object; tokenizerConfig: object } {
  // task letters a–j stay single tokens so copy/sort answers are one token per letter
  const { vocab, merges } = trainByteBpe({ corpus: CORPUS, vocabSize: VOCAB_SIZE, specialTokens: SPECIAL_TOKENS, forbid: /^[a-j]+$/ });
  // pad with reserved tokens so the vocabulary has exactly VOCAB_SIZE entries whatever the corpus yields
  const specials: string[] = [...SPECIAL_TOKENS];
  for (let i = 0; vocab.size < VOCAB_SIZE; i++) {
    const t = `<|reserved_${i}|>`;
    vocab.set(t, vocab.size);
    specials.push(t);
  }
  return {
    tokenizer: tokenizerJson(vocab, merges, specials),
    tokenizerConfig: {
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: '<|bos|>',
      eos_token: '<|endoftext|>',
      pad_token: '<|pad|>',
      add_bos_token: false,
      add_eos_token: false,
      clean_up_tokenization_spaces: false,
      model_max_length: 512,
    },
  };
}

/** Writes both model directories under `modelsDir` (seeded: the same bytes every run). */
export async function writeBundledModels(modelsDir: string): Promise<void> {
  const { policy, draft } = bundledConfigs();
  const { tokenizer, tokenizerConfig } = bundledTokenizer();
  const models: [string, LlamaConfig, number][] = [['tiny-policy', policy, 1234], ['tiny-draft', draft, 5678]];
  for (const [name, config, seed] of models) {
    const dir = join(modelsDir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(toHfConfig(config), null, 2) + '\n');
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer) + '\n');
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');
    await writeSafetensors(join(dir, 'model.safetensors'), randomWeights(config, new Xoshiro128(seed)), { format: 'pt', generator: `specstream bundled.ts seed ${seed}` });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? 'models');
  await writeBundledModels(out);
  process.stdout.write(`wrote tiny-policy and tiny-draft to ${out}\n`);
}
