import { z } from 'zod';
import type { EventEnvelope } from './envelope.js';

/**
 * One verification round of one sequence. Enough to rebuild every vLLM-style counter:
 * `observe_draft(proposed, accepted)` when `proposed ≥ 1`.
 * - `drafter`: which drafter proposed (`model`, `ngram`, `reuse`, or a plug-in's name).
 * - `k`: the draft length chosen for this round (adaptive k may choose 0: speculation off).
 * - `proposed`: draft tokens actually proposed (≤ k; a drafter may propose fewer).
 * - `accepted`: draft tokens accepted (bonus/replacement not counted).
 * - `emitted`: tokens appended to the sequence this round (accepted + bonus/replacement,
 *   possibly cut by a stop condition).
 */
export type DraftVerified = EventEnvelope<
  'DraftVerified',
  { requestId: string; drafter: string; k: number; proposed: number; accepted: number; emitted: number }
>;

export const speculationSchemas = {
  DraftVerified: z
    .object({
      requestId: z.string().min(1),
      drafter: z.string().min(1),
      k: z.number().int().nonnegative(),
      proposed: z.number().int().nonnegative(),
      accepted: z.number().int().nonnegative(),
      emitted: z.number().int().nonnegative(),
    })
    .refine((d) => d.accepted <= d.proposed, { message: 'accepted must be ≤ proposed', path: ['accepted'] })
    .refine((d) => d.proposed <= d.k, { message: 'proposed must be ≤ k', path: ['proposed'] }),
} as const;
