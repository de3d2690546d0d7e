import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The configuration of a GRPO run. Every field has a default, so `{}` is a valid config and
 * `npm start` runs on the embedded defaults; `configs/default.json` spells them out.
 * The effective config (defaults applied) is recorded in the run's `RunStarted` event.
 */
export const runConfigSchema = z
  .object({
    runId: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only (it names a folder and Kafka topics)').optional(),
    seed: z.number().int().default(0),
    task: z.string().min(1).default('copy').describe('built-in task name or path to an ES module'),
    steps: z.number().int().positive().default(6),
    promptsPerStep: z.number().int().positive().default(4),
    groupSize: z.number().int().min(2).default(4),
    model: z
      .object({
        policy: z.string().min(1).default('models/tiny-policy'),
        draft: z.string().min(1).default('models/tiny-draft'),
        device: z.enum(['cpu', 'webgpu']).default('cpu'),
      })
      .strict()
      .prefault({}),
    sampling: z
      .object({
        temperature: z.number().nonnegative().default(1),
        topK: z.number().int().nonnegative().default(0),
        topP: z.number().gt(0).lte(1).default(1),
        maxNewTokens: z.number().int().positive().default(8),
        /** Longest prompt (in tokens) the train-step graph is built for. */
        maxPromptTokens: z.number().int().positive().default(24),
      })
      .strict()
      .prefault({}),
    speculative: z
      .object({
        drafter: z.enum(['model', 'ngram', 'reuse', 'none']).default('model'),
        k: z.union([z.number().int().nonnegative(), z.literal('auto')]).default(4),
        kMax: z.number().int().positive().default(8),
        maxBatch: z.number().int().positive().default(16),
        /** Rows free before waiting requests join the batch (default ⌈maxBatch / 4⌉; maxBatch = static waves). */
        minJoin: z.number().int().positive().optional(),
        /**
         * Draft-model drafter: draft the argmax also at temperature > 0 (point-mass drafts,
         * exact under the acceptance rule), which lets it draft k tokens in one session run.
         */
        greedyDrafts: z.boolean().default(false),
        /**
         * Draft-model drafter with a fixed k and greedy drafts (temperature 0 or greedyDrafts), on
         * a CPU, both models config.json + model.safetensors, generation in this process: draft
         * and verify in ONE session run per round (joint rounds, rebuilt at every refit); false:
         * two runs per round. Workers always use two.
         */
        jointRounds: z.boolean().default(true),
      })
      .strict()
      .refine((s) => s.minJoin === undefined || s.minJoin <= s.maxBatch, { message: 'minJoin must be at most maxBatch (maxBatch = static waves)', path: ['minJoin'] })
      .prefault({}),
    grpo: z
      .object({
        leaveOneOut: z.boolean().default(true),
        normalizeStd: z.boolean().default(true),
        epsLow: z.number().nonnegative().default(0.2),
        epsHigh: z.number().nonnegative().default(0.2),
        dualClip: z.number().gt(1).nullable().default(null),
        klCoef: z.number().nonnegative().default(0.01),
        klType: z.enum(['k1', 'k2', 'k3']).default('k3'),
        normalization: z.enum(['token', 'sequence']).default('token'),
        importanceSamplingCap: z.number().positive().nullable().default(null),
      })
      .strict()
      .prefault({}),
    optimizer: z
      .object({
        lr: z.number().positive().default(3e-4),
        weightDecay: z.number().nonnegative().default(0),
        beta1: z.number().min(0).lt(1).default(0.9),
        beta2: z.number().min(0).lt(1).default(0.999),
        eps: z.number().positive().default(1e-8),
        maxGradNorm: z.number().positive().default(1),
        schedule: z.enum(['constant', 'cosine']).default('constant'),
        warmupSteps: z.number().int().nonnegative().default(0),
      })
      .strict()
      .prefault({}),
    /**
     * Who generates the rollouts: "local" (this process) or "workers" (`specstream worker`
     * processes in a Kafka consumer group; needs log.kind "kafka"; docs/kafka.md).
     */
    generation: z.enum(['local', 'workers']).default('local'),
    /** Save the policy (safetensors + config.json) every N steps and after the last; 0 = last only. */
    checkpointEvery: z.number().int().nonnegative().default(0),
    log: z
      .discriminatedUnion('kind', [
        z.object({
          kind: z.literal('file'),
          dir: z.string().min(1).default('runs'),
          /** fsync policy: "batch", "never" or "<N>ms" (docs/event-log.md). */
          durability: z.string().regex(/^(batch|never|[1-9]\d*ms)$/, 'expected "batch", "never" or "<N>ms"').default('100ms'),
        }).strict(),
        z.object({
          kind: z.literal('kafka'),
          brokers: z.array(z.string().min(1)).min(1),
          topicPrefix: z.string().min(1).default('specstream'),
        }).strict(),
      ])
      .default({ kind: 'file', dir: 'runs', durability: '100ms' }),
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Validates a parsed config object; errors name each offending key path and what was expected. */
export function parseRunConfig(input: unknown, origin = 'config'): RunConfig {
  const result = runConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(root)';
    return `  ${key}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration in ${origin}:\n${lines.join('\n')}`);
}

/** Reads and validates a JSON config file; a missing file or bad JSON is named with its path. */
export function loadRunConfig(path: string): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseRunConfig(json, path);
}

/** Applies `a.b.c=value` overrides (values parsed as JSON when possible) onto a raw config. */
export function applyOverrides(raw: Record<string, unknown>, overrides: readonly string[]): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new ConfigError(`override "${o}" must look like key.path=value`);
    const keys = o.slice(0, eq).split('.');
    const text = o.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    let node: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      const next = node[k];
      if (next === undefined) node[k] = {};
      else if (typeof next !== 'object' || next === null) throw new ConfigError(`override "${o}": ${k} is not an object`);
      node = node[k] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = value;
  }
  return out;
}
