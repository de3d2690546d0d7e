import { z } from 'zod';

/**
 * The envelope every specstream event travels in (Emmett-style `Readonly<{type, data, metadata}>`,
 * flattened): a unique, lexically sortable `id` (ULID), a past-tense `type`, the schema `version`
 * of `data`, the `runId`, the GRPO `step`, the `source` (worker id) that produced it, a logical
 * per-source sequence number `seq`, and the producer's wall-clock `time` (ms since epoch).
 *
 * Reducers never read a clock: time and ids arrive here.
 */
export type EventEnvelope<TType extends string = string, TData = unknown> = Readonly<{
  id: string;
  type: TType;
  version: number;
  runId: string;
  step: number;
  source: string;
  seq: number;
  time: number;
  data: TData;
}>;

export const envelopeSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  version: z.number().int().positive(),
  runId: z.string().min(1),
  step: z.number().int().nonnegative(),
  source: z.string().min(1),
  seq: z.number().int().nonnegative(),
  time: z.number().nonnegative(),
  data: z.unknown(),
});
