import { Observable, type OperatorFunction } from 'rxjs';
import type { EventFactory } from '../../events/factory.js';
import type { DraftVerified, RolloutCompleted, RolloutRequested } from '../../events/index.js';
import type { AcceptanceRule } from '../../gpu/speculative/acceptance.js';
import type { AdaptiveK } from '../../gpu/speculative/adaptiveK.js';
import type { Drafter } from '../../gpu/speculative/drafter.js';
import { SpeculativeEngine, type CompletedSequence } from '../../gpu/speculative/engine.js';
import type { SpecDecodeCounters } from '../../gpu/speculative/counters.js';
import type { Decoder } from '../../gpu/runtime/Decoder.js';

export interface SpeculativeDecodeOptions {
  /** The policy: every emitted token is its sample, with its exact logprob. */
  readonly target: Decoder;
  /** Where drafts come from; null = plain decoding through the same engine. */
  readonly drafter: Drafter | null;
  /** A fixed draft length (0 = off) or 'auto' (adaptive, 0 … kMax). */
  readonly k: number | 'auto';
  readonly kMax?: number;
  /** Adaptive-k state shared across calls (a training run's steps); see `EngineOptions.adaptiveK`. */
  readonly adaptiveK?: AdaptiveK;
  /** Sequences verified together at most; finished ones leave, waiting ones join. */
  readonly maxBatchSize: number;
  /** Rows free before waiting requests join (default ⌈maxBatchSize / 4⌉); see `EngineOptions.minJoin`. */
  readonly minJoin?: number;
  /** The one place events are born (ids, seq, time). */
  readonly events: EventFactory;
  /** Written into each `RolloutCompleted` (default 0). */
  readonly weightsVersion?: number;
  /** Token ids → text, needed only for `stopStrings`. */
  readonly decode?: (ids: readonly number[]) => string;
  /** Plug-in point for the stochastic acceptance rule (tests use a wrong one to prove they can fail). */
  readonly rule?: AcceptanceRule;
  /** Called with the tokens each round appends to a sequence (streaming output). */
  readonly onTokens?: (requestId: string, tokens: readonly number[], logprobs: readonly number[]) => void;
  /** Called with each finished sequence's own counters (the CLI's `--stats`). */
  readonly onCompleted?: (sequence: CompletedSequence) => void;
  /** Called once when the stream ends, with the engine's total counters. */
  readonly onCounters?: (counters: SpecDecodeCounters) => void;
}

/**
 * Lossless speculative decoding as an RxJS operator: `RolloutRequested` in, `DraftVerified` …
 * `RolloutCompleted` out, with continuous batching.
 *
 * 1. Each incoming request is queued in a `SpeculativeEngine` (src/gpu/speculative/engine.ts);
 *    a single pump loop runs verification rounds while any sequence is running or waiting, so
 *    requests arriving mid-flight join the batch at the next round with room (up to
 *    `maxBatchSize`; while rows run, once `minJoin` rows are free or all that wait fit).
 * 2. Each round emits one `DraftVerified` per running sequence (drafter, chosen k, proposed,
 *    accepted, emitted), at the step of the request it belongs to.
 * 3. A finished sequence emits `RolloutCompleted` (tokens, target logprobs, finish reason) and is
 *    handed to the drafter's `observe` — the rollout-reuse drafter drafts the later samples of
 *    its group from it.
 * 4. The output completes when the input has completed and every sequence has finished; an
 *    input or engine error errors the output. Unsubscribing stops the loop after the round in
 *    flight and frees the engine's caches.
 *
 * @example
 * requests$.pipe(
 *   speculativeDecode({ target, drafter: new NgramDrafter(), k: 'auto', maxBatchSize: 16, events }),
 * ).subscribe((e) => log.append(e));
 */
export function speculativeDecode(options: SpeculativeDecodeOptions): OperatorFunction<RolloutRequested, DraftVerified | RolloutCompleted> {
  return (source) =>
    new Observable<DraftVerified | RolloutCompleted>((subscriber) => {
      const engine = new SpeculativeEngine({
        target: options.target,
        drafter: options.drafter,
        k: options.k,
        ...(options.kMax !== undefined ? { kMax: options.kMax } : {}),
        ...(options.adaptiveK ? { adaptiveK: options.adaptiveK } : {}),
        maxBatchSize: options.maxBatchSize,
        ...(options.minJoin !== undefined ? { minJoin: options.minJoin } : {}),
        ...(options.decode ? { decode: options.decode } : {}),
        ...(options.rule ? { rule: options.rule } : {}),
        ...(options.onTokens ? { onTokens: options.onTokens } : {}),
      });
      const stepOf = new Map<string, number>();
      let inputDone = false;
      let pumping = false;
      let closed = false;
      let disposed = false;
      const dispose = () => {
        if (disposed) return;
        disposed = true;
        void engine.dispose().catch((e: unknown) => subscriber.error(e));
      };
      const finishIfDone = () => {
        if (inputDone && engine.idle && !closed) {
          options.onCounters?.(engine.counters);
          subscriber.complete();
        }
      };
      const pump = async () => {
        if (pumping) return;
        pumping = true;
        try {
          while (!closed && !engine.idle) {
            const { rounds, completed } = await engine.step();
            if (closed) break;
            for (const r of rounds) subscriber.next(options.events.make('DraftVerified', stepOf.get(r.requestId)!, r));
            for (const c of completed) {
              const step = stepOf.get(c.requestId)!;
              stepOf.delete(c.requestId);
              const event = options.events.make('RolloutCompleted', step, {
                requestId: c.requestId,
                promptId: c.promptId,
                groupIndex: c.groupIndex,
                tokenIds: c.tokenIds,
                logprobs: c.logprobs,
                finishReason: c.finishReason,
                weightsVersion: options.weightsVersion ?? 0,
              });
              options.drafter?.observe?.(event);
              options.onCompleted?.(c);
              subscriber.next(event);
            }
          }
        } catch (e) {
          closed = true;
          subscriber.error(e);
        } finally {
          pumping = false;
        }
        if (closed) dispose();
        else finishIfDone();
      };
      const inner = source.subscribe({
        next: (req) => {
          try {
            if (stepOf.has(req.data.requestId)) throw new Error(`speculativeDecode: request ${req.data.requestId} is already running`);
            engine.add(req.data);
            stepOf.set(req.data.requestId, req.step);
          } catch (e) {
            closed = true;
            subscriber.error(e);
            return;
          }
          void pump();
        },
        error: (e: unknown) => {
          closed = true;
          subscriber.error(e);
        },
        complete: () => {
          inputDone = true;
          if (!pumping) finishIfDone();
        },
      });
      return () => {
        closed = true;
        inner.unsubscribe();
        if (!pumping) dispose();
      };
    });
}
