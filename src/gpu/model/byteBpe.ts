/**
 * A tiny byte-level BPE trainer that writes a Hugging Face `tokenizer.json` (GPT-2 style:
 * ByteLevel pre-tokenizer/decoder, BPE model with "a b" merges). Used only to make the bundled
 * tiny models' tokenizer reproducibly; loading goes through @huggingface/tokenizers.
 */

/** GPT-2's reversible byte → printable-unicode table. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table: string[] = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i]!)));
  return table;
}

/** GPT-2's pre-tokenization pattern (what ByteLevel with use_regex applies). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface BpeTrainOptions {
  readonly corpus: string;
  /** Final vocabulary size, special tokens included. */
  readonly vocabSize: number;
  /** Special tokens, given ids 0.. in order. */
  readonly specialTokens: readonly string[];
  /** Merges whose result would match this pattern are skipped (e.g. keep task letters single tokens). */
  readonly forbid?: RegExp;
}

/**
 * Trains byte-level BPE.
 * 1. Splits the corpus with the GPT-2 pattern, maps bytes to their unicode stand-ins, counts words.
 * 2. Repeatedly merges the most frequent adjacent pair (ties: lexicographically smallest, so the
 *    result is deterministic) until the vocabulary is full or no pair occurs twice.
 * 3. Emits ids: specials, then the 256 byte symbols, then merges in order.
 */
export function trainByteBpe(opts: BpeTrainOptions): { vocab: Map<string, number>; merges: [string, string][] } {
  const table = bytesToUnicode();
  const enc = new TextEncoder();
  const words = new Map<string, { syms: string[]; count: number }>();
  for (const m of opts.corpus.matchAll(GPT2_SPLIT)) {
    const w = [...enc.encode(m[0])].map((b) => table[b]!).join('');
    const e = words.get(w);
    if (e) e.count++;
    else words.set(w, { syms: [...w], count: 1 });
  }
  const vocab = new Map<string, number>();
  for (const s of opts.specialTokens) vocab.set(s, vocab.size);
  for (let b = 0; b < 256; b++) vocab.set(table[b]!, vocab.size);
  const merges: [string, string][] = [];
  while (vocab.size < opts.vocabSize) {
    const counts = new Map<string, number>();
    for (const { syms, count } of words.values()) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const merged = syms[i]! + syms[i + 1]!;
        if (opts.forbid?.test(merged)) continue;
        const key = `${syms[i]} ${syms[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [k, c] of counts) if (c > bestCount || (c === bestCount && best !== undefined && k < best)) [best, bestCount] = [k, c];
    if (best === undefined) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    vocab.set(a + b, vocab.size);
    for (const w of words.values()) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(w.syms[i]!);
      }
      w.syms = out;
    }
  }
  return { vocab, merges };
}

/** A Hugging Face tokenizer.json object for a trained byte-level BPE. */
export function tokenizerJson(vocab: ReadonlyMap<string, number>, merges: readonly [string, string][], specialTokens: readonly string[]): object {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content) => ({
      id: vocab.get(content)!,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}
