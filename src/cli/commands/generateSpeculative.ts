import type { Command } from 'commander';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createEventFactory } from '../../events/factory.js';
import type { RolloutRequested } from '../../events/index.js';
import type { Decoder } from '../../gpu/runtime/Decoder.js';
import { assertSameVocabulary, loadDecoder, readBuilderModel } from '../../gpu/runtime/loadDecoder.js';
import { jointRoundsApply, OrtRoundDecoder } from '../../gpu/runtime/roundDecoder.js';
import type { GenerateResult } from '../../gpu/sampling/generate.js';
import { countersToJson, type SpecDecodeCounters } from '../../gpu/speculative/counters.js';
import type { Drafter } from '../../gpu/speculative/drafter.js';
import type { CompletedSequence } from '../../gpu/speculative/engine.js';
import { ModelDrafter } from '../../gpu/speculative/modelDrafter.js';
import { NgramDrafter } from '../../gpu/speculative/ngramDrafter.js';
import { ReuseDrafter } from '../../gpu/speculative/reuseDrafter.js';
import { speculativeDecode } from '../../streams/operators/speculativeDecode.js';
import { generateModes, type GenerateContext, type GenerateMode } from './generate.js';

/** A generate result with the sequence's speculative-decoding counters (`--format json` prints `stats`). */
export type SpeculativeGenerateResult = GenerateResult & { readonly stats: ReturnType<typeof countersToJson> };

const DRAFTERS = ['model', 'ngram', 'reuse'] as const;

/** Parses `--k`: a non-negative integer or `auto`. */
export function parseK(v: unknown): number | 'auto' {
  if (v === undefined) return 'auto';
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--k must be a non-negative integer or "auto"; got "${String(v)}"`);
  return n;
}

/**
 * The speculative options of `specstream generate`, plugged in through `generateModes`:
 * `--draft DIR` (a draft model; implies `--drafter model`), `--drafter model|ngram|reuse`,
 * `--k N|auto`, `--k-max N`, `--max-batch N`, `--min-join N`, `--no-joint-rounds`, `--stats`.
 *
 * 1. Builds the drafter: a draft model is loaded on the same device and checked against the
 *    target's vocabulary and tokenizer (a clear error at start); `reuse` drafts later samples
 *    from earlier ones of the same prompt (with `--max-batch` below `--n`). With a fixed k and
 *    greedy decoding on a CPU, a draft model runs in joint rounds (`OrtRoundDecoder`) when both models
 *    are built from config.json + model.safetensors (`--no-joint-rounds`: two runs per round).
 * 2. Runs the `n` samples as `RolloutRequested` events through `speculativeDecode` (sample i
 *    uses seed `--seed` + i), streaming tokens as rounds emit them.
 * 3. Returns each sample with `stats` (its own counters); `--stats` also prints them, and the
 *    totals, to stderr.
 */
export const speculativeGenerateMode: GenerateMode = {
  name: 'speculative',
  addOptions(cmd: Command): void {
    cmd
      .option('--draft <dir>', 'draft model directory (speculative decoding with a draft model)')
      .option('--drafter <name>', `speculative drafter: ${DRAFTERS.join(' | ')}`)
      .option('--k <n|auto>', 'draft length per round: an integer ≥ 0 or auto (adaptive; default auto)')
      .option('--k-max <n>', 'largest k adaptive k may choose', '6')
      .option('--max-batch <n>', 'sequences verified together (continuous batching; default --n)')
      .option('--min-join <n>', 'free rows before waiting samples join the batch (default ⌈max-batch / 4⌉; max-batch = static waves)')
      .option('--no-joint-rounds', 'with --draft, a fixed --k and greedy decoding on a CPU: draft and verify in two session runs per round instead of one')
      .option('--stats', 'print speculative-decoding counters to stderr');
  },
  applies(options): boolean {
    const r = options.raw;
    return r['draft'] !== undefined || r['drafter'] !== undefined || r['k'] !== undefined || r['stats'] === true;
  },
  async run(ctx: GenerateContext): Promise<SpeculativeGenerateResult[]> {
    const { decoder, options } = ctx;
    const raw = options.raw;
    const name = String(raw['drafter'] ?? (raw['draft'] !== undefined ? 'model' : 'ngram'));
    if (!(DRAFTERS as readonly string[]).includes(name)) throw new Error(`--drafter must be one of ${DRAFTERS.join(', ')}; got "${name}"`);
    if (name === 'model' && raw['draft'] === undefined) throw new Error('--drafter model needs --draft DIR (the draft model directory)');
    if (name !== 'model' && raw['draft'] !== undefined) throw new Error(`--draft DIR is a draft model; it cannot be combined with --drafter ${name}`);
    const k = parseK(raw['k']);
    const kMax = Number(raw['kMax'] ?? 6);
    if (!Number.isInteger(kMax) || kMax < 0) throw new Error(`--k-max must be an integer ≥ 0; got "${String(raw['kMax'])}"`);
    const maxBatch = raw['maxBatch'] === undefined ? options.n : Number(raw['maxBatch']);
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`--max-batch must be an integer ≥ 1; got "${String(raw['maxBatch'])}"`);
    const minJoin = raw['minJoin'] === undefined ? undefined : Number(raw['minJoin']);
    if (minJoin !== undefined && !(Number.isInteger(minJoin) && minJoin >= 1 && minJoin <= maxBatch)) {
      throw new Error(`--min-join must be an integer in [1, --max-batch = ${maxBatch}]; got "${String(raw['minJoin'])}"`);
    }

    let draftDecoder: Decoder | undefined;
    let rounds: OrtRoundDecoder | undefined;
    let drafter: Drafter;
    if (name === 'model') {
      // One intra-op thread on a CPU: the draft alternates with the target, and a multi-threaded
      // pool's spinning threads would slow the target's next forward.
      // Greedy decoding: k draft steps in one session run (a draft built from config + safetensors).
      const multiStepDraft = options.params.temperature === 0;
      draftDecoder = await loadDecoder(String(raw['draft']), { device: options.device, multiStepDraft, ...(options.device === 'cpu' ? { intraOpNumThreads: 1 } : {}) });
      assertSameVocabulary(decoder, draftDecoder);
      // The draft's k steps and the target's verify in ONE session run per round, when both
      // models are built from config.json + model.safetensors (`jointRoundsApply`).
      if (raw['jointRounds'] !== false && jointRoundsApply(k, multiStepDraft, options.device)) {
        const [t, d] = [await readBuilderModel(options.model), await readBuilderModel(String(raw['draft']))];
        if (t && d) rounds = OrtRoundDecoder.open({ decoder, model: t }, { decoder: draftDecoder, model: d });
      }
      drafter = new ModelDrafter(draftDecoder, undefined, undefined, rounds ? { rounds } : {});
    } else drafter = name === 'ngram' ? new NgramDrafter() : new ReuseDrafter();

    try {
      const events = createEventFactory({ runId: 'generate', source: 'cli' });
      const requests: RolloutRequested[] = Array.from({ length: options.n }, (_, i) =>
        events.make('RolloutRequested', 0, {
          requestId: `sample-${i}`,
          promptId: 'prompt',
          groupIndex: i,
          promptTokenIds: options.promptIds,
          sampling: {
            temperature: options.params.temperature,
            topK: options.params.topK ?? 0,
            topP: options.params.topP ?? 1,
            maxNewTokens: options.maxNewTokens,
            seed: options.seed + i,
            stopTokenIds: [],
            stopStrings: options.stop,
          },
        }),
      );
      const tok = decoder.tokenizer;
      const done = new Map<string, CompletedSequence>();
      let total: SpecDecodeCounters | undefined;
      await lastValueFrom(
        from(requests).pipe(
          speculativeDecode({
            target: decoder,
            drafter,
            k,
            kMax,
            maxBatchSize: maxBatch,
            ...(minJoin !== undefined ? { minJoin } : {}),
            events,
            ...(tok ? { decode: (ids: readonly number[]) => tok.decode([...ids], { skip_special_tokens: true }) } : {}),
            onTokens: (id, tokens, logprobs) => tokens.forEach((t, j) => ctx.onToken(Number(id.slice('sample-'.length)), t, logprobs[j]!)),
            onCompleted: (c) => done.set(c.requestId, c),
            onCounters: (c) => (total = c),
          }),
          toArray(),
        ),
      );
      const results = requests.map((r, i): SpeculativeGenerateResult => {
        const c = done.get(r.data.requestId)!;
        let text = tok ? tok.decode(c.tokenIds, { skip_special_tokens: true }) : undefined;
        if (text !== undefined && c.finishReason === 'stop_string') {
          const hits = options.stop.map((s) => text!.indexOf(s)).filter((x) => x >= 0);
          if (hits.length > 0) text = text.slice(0, Math.min(...hits));
        }
        if (raw['stats'] === true) process.stderr.write(`sample ${i}: ${JSON.stringify(countersToJson(c.counters))}\n`);
        return { tokenIds: c.tokenIds, logprobs: c.logprobs, finishReason: c.finishReason === 'length' ? 'length' : 'stop', text, stats: countersToJson(c.counters) };
      });
      if (raw['stats'] === true && total) {
        const t = countersToJson(total);
        const rate = t.num_draft_tokens > 0 ? t.num_accepted_tokens / t.num_draft_tokens : 0;
        const len = t.num_drafts > 0 ? 1 + t.num_accepted_tokens / t.num_drafts : 1;
        process.stderr.write(`speculative (${drafter.name}, k=${k}${rounds ? ', joint rounds: one session run per round' : ''}): ${JSON.stringify(t)} acceptance_rate=${rate.toFixed(3)} acceptance_length=${len.toFixed(3)}\n`);
      }
      return results;
    } finally {
      await rounds?.release();
      await draftDecoder?.release();
    }
  },
};

generateModes.push(speculativeGenerateMode);
