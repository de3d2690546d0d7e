import { z } from 'zod';
import type { EventEnvelope } from './envelope.js';

/** One optimiser step of `model` (policy or draft); `metrics` holds loss diagnostics. */
export type PolicyUpdated = EventEnvelope<
  'PolicyUpdated',
  {
    model: 'policy' | 'draft';
    loss: number;
    gradNorm: number;
    lr: number;
    weightsVersion: number;
    metrics: Readonly<Record<string, number>>;
  }
>;

/** New weights are available at `uri` (a file or object-store address, never the tensors). */
export type WeightsPublished = EventEnvelope<
  'WeightsPublished',
  { model: 'policy' | 'draft'; weightsVersion: number; uri: string }
>;

export const trainingSchemas = {
  PolicyUpdated: z.object({
    model: z.enum(['policy', 'draft']),
    loss: z.number(),
    gradNorm: z.number().nonnegative(),
    lr: z.number().nonnegative(),
    weightsVersion: z.number().int().nonnegative(),
    metrics: z.record(z.string(), z.number()),
  }),
  WeightsPublished: z.object({
    model: z.enum(['policy', 'draft']),
    weightsVersion: z.number().int().nonnegative(),
    uri: z.string().min(1),
  }),
} as const;
