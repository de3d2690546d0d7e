import { z } from 'zod';
import type { EventEnvelope } from './envelope.js';

export const samplingSchema = z.object({
  /** 0 = greedy. */
  temperature: z.number().nonnegative(),
  /** 0 = off. */
  topK: z.number().int().nonnegative(),
  /** 1 = off. */
  topP: z.number().gt(0).lte(1),
  maxNewTokens: z.number().int().positive(),
  /** Per-sequence seed: a sequence's output does not depend on its batch. */
  seed: z.number().int(),
  stopTokenIds: z.array(z.number().int()).default([]),
  stopStrings: z.array(z.string()).default([]),
});
export type SamplingParams = z.infer<typeof samplingSchema>;

export type FinishReason = 'stop' | 'length' | 'stop_string';

/** One sequence to generate: sample `groupIndex` of prompt `promptId`'s group. */
export type RolloutRequested = EventEnvelope<
  'RolloutRequested',
  {
    requestId: string;
    promptId: string;
    groupIndex: number;
    promptTokenIds: readonly number[];
    sampling: SamplingParams;
  }
>;

/** A finished sequence: generated token ids and the exact target logprob of each. */
export type RolloutCompleted = EventEnvelope<
  'RolloutCompleted',
  {
    requestId: string;
    promptId: string;
    groupIndex: number;
    tokenIds: readonly number[];
    logprobs: readonly number[];
    finishReason: FinishReason;
    weightsVersion: number;
  }
>;

/**
 * The task's verifiable reward for one rollout; `valid: false` excludes it from its group.
 * v2 added `components` (named parts of the reward, e.g. `format`, `correct`); v1 events are
 * upcast with `{}` (src/events/upcast.ts). Producers may omit it; decoded events always have it.
 */
export type RewardAssigned = EventEnvelope<
  'RewardAssigned',
  {
    requestId: string;
    promptId: string;
    groupIndex: number;
    reward: number;
    valid: boolean;
    components?: Readonly<Record<string, number>>;
  }
>;

/** GRPO advantages of one prompt group, one per rollout. */
export type AdvantagesComputed = EventEnvelope<
  'AdvantagesComputed',
  { promptId: string; advantages: ReadonlyArray<{ requestId: string; advantage: number }> }
>;

const tokenIds = z.array(z.number().int().nonnegative());
export const rolloutSchemas = {
  RolloutRequested: z.object({
    requestId: z.string().min(1),
    promptId: z.string().min(1),
    groupIndex: z.number().int().nonnegative(),
    promptTokenIds: tokenIds,
    sampling: samplingSchema,
  }),
  RolloutCompleted: z
    .object({
      requestId: z.string().min(1),
      promptId: z.string().min(1),
      groupIndex: z.number().int().nonnegative(),
      tokenIds,
      logprobs: z.array(z.number().lte(0)),
      finishReason: z.enum(['stop', 'length', 'stop_string']),
      weightsVersion: z.number().int().nonnegative(),
    })
    .refine((d) => d.tokenIds.length === d.logprobs.length, {
      message: 'tokenIds and logprobs must have the same length',
      path: ['logprobs'],
    }),
  RewardAssigned: z.object({
    requestId: z.string().min(1),
    promptId: z.string().min(1),
    groupIndex: z.number().int().nonnegative(),
    reward: z.number(),
    valid: z.boolean(),
    components: z.record(z.string(), z.number()).default({}),
  }),
  AdvantagesComputed: z.object({
    promptId: z.string().min(1),
    advantages: z.array(z.object({ requestId: z.string().min(1), advantage: z.number() })),
  }),
} as const;
