import type { PolicyUpdated, SpecstreamEvent } from '../events/index.js';
import { emptyIdSet, idSetHas, idSetWithLayer, type IdSet } from './dedup.js';
import { aggregateCounters, specDecodeMetrics, type SpecDecodeCounters } from './specDecode.js';

/** One flat record per step: `{step, 'spec_decode/…': …, 'reward/mean': …, 'train/loss': …}`. */
export type StepMetrics = Readonly<{ step: number } & Record<string, number>>;

/** Counters of one worker within one step, plus the sum of `k` over its drafts (for mean k). */
export type WorkerStepCounters = SpecDecodeCounters & Readonly<{ kSum: number }>;

/** What the fold keeps per step. Immutable; replaced, never changed, by `foldEvents`. */
export type StepState = Readonly<{
  /** Ids of the step's events already counted (duplicates carry the same step). */
  seen: IdSet;
  /** This step's spec-decode counters per worker (`source`): the per-worker deltas. */
  workers: ReadonlyMap<string, WorkerStepCounters>;
  /** Rewards by event id (summed in id order at selection: order-independent floats). */
  rewards: ReadonlyMap<string, Readonly<{ reward: number; components: Readonly<Record<string, number>> }>>;
  /** Latest optimiser step per model (highest weightsVersion, then seq, then id). */
  updates: ReadonlyMap<'policy' | 'draft', PolicyUpdated>;
  rollouts: Readonly<{ count: number; tokens: number }>;
}>;

export type MetricsState = Readonly<{ steps: ReadonlyMap<number, StepState> }>;

export const emptyMetricsState: MetricsState = { steps: new Map() };

const emptyStep: StepState = { seen: emptyIdSet, workers: new Map(), rewards: new Map(), updates: new Map(), rollouts: { count: 0, tokens: 0 } };

/** A step's state while a batch is folded into it: copies owned by this fold call only. */
interface OwnedStep {
  seenBefore: IdSet;
  fresh: Set<string>;
  workers: Map<string, { numDrafts: number; numDraftTokens: number; numAcceptedTokens: number; numAcceptedTokensPerPos: number[]; kSum: number }>;
  ownedWorkers: Set<string>;
  rewards: Map<string, { reward: number; components: Readonly<Record<string, number>> }> | undefined;
  updates: Map<'policy' | 'draft', PolicyUpdated> | undefined;
  rollouts: { count: number; tokens: number };
  base: StepState;
}

const newer = (a: PolicyUpdated, b: PolicyUpdated): boolean =>
  a.data.weightsVersion !== b.data.weightsVersion
    ? a.data.weightsVersion > b.data.weightsVersion
    : a.seq !== b.seq
      ? a.seq > b.seq
      : a.id > b.id;

/**
 * Folds a batch of events into the metrics state; returns a new state, the input is untouched.
 * Pure: no clock, randomness or I/O. The hot path (millions of `DraftVerified`) is a
 * hand-written immutable update (STYLE.md): each touched step and worker is copied once per
 * batch, then updated in place inside this call.
 *
 * 1. Per event: skip `RunStarted` (not a step's), drop ids the step has seen (at-least-once
 *    delivery must not double count).
 * 2. `DraftVerified` with ≥ 1 proposed token: `observe_draft(proposed, accepted)` on the
 *    source's counters for the step, per-position array sized to `k`; add `k` to `kSum`.
 * 3. `RewardAssigned`: keep reward by id. `PolicyUpdated`: keep the newest per model.
 *    `RolloutCompleted`: count and tokens. Other types only make the step exist.
 * 4. Seal: the batch's ids become a new layer of the step's id set.
 * Folding A then B equals folding A ++ B; the result does not depend on event order.
 */
export function foldEvents(state: MetricsState, batch: readonly SpecstreamEvent[]): MetricsState {
  if (batch.length === 0) return state;
  const owned = new Map<number, OwnedStep>();
  let lastStep = -1;
  let cur: OwnedStep | undefined;
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i]!;
    if (e.type === 'RunStarted') continue;
    if (e.step !== lastStep || cur === undefined) {
      cur = owned.get(e.step);
      if (cur === undefined) {
        const base = state.steps.get(e.step) ?? emptyStep;
        cur = {
          seenBefore: base.seen,
          fresh: new Set(),
          workers: new Map(base.workers as Map<string, never>),
          ownedWorkers: new Set(),
          rewards: undefined,
          updates: undefined,
          rollouts: { ...base.rollouts },
          base,
        };
        owned.set(e.step, cur);
      }
      lastStep = e.step;
    }
    if (cur.fresh.has(e.id) || idSetHas(cur.seenBefore, e.id)) continue;
    cur.fresh.add(e.id);
    switch (e.type) {
      case 'DraftVerified': {
        const { proposed, accepted, k } = e.data;
        if (proposed < 1) break;
        let w = cur.workers.get(e.source);
        if (w === undefined || !cur.ownedWorkers.has(e.source)) {
          w = w
            ? { ...w, numAcceptedTokensPerPos: w.numAcceptedTokensPerPos.slice() }
            : { numDrafts: 0, numDraftTokens: 0, numAcceptedTokens: 0, numAcceptedTokensPerPos: [], kSum: 0 };
          cur.workers.set(e.source, w);
          cur.ownedWorkers.add(e.source);
        }
        w.numDrafts += 1;
        w.numDraftTokens += proposed;
        w.numAcceptedTokens += accepted;
        w.kSum += k;
        const perPos = w.numAcceptedTokensPerPos;
        while (perPos.length < k) perPos.push(0);
        for (let p = 0; p < accepted; p++) perPos[p]! += 1;
        break;
      }
      case 'RewardAssigned':
        cur.rewards ??= new Map(cur.base.rewards);
        cur.rewards.set(e.id, { reward: e.data.reward, components: e.data.components ?? {} });
        break;
      case 'PolicyUpdated': {
        cur.updates ??= new Map(cur.base.updates);
        const prev = cur.updates.get(e.data.model);
        if (!prev || newer(e, prev)) cur.updates.set(e.data.model, e);
        break;
      }
      case 'RolloutCompleted':
        cur.rollouts.count += 1;
        cur.rollouts.tokens += e.data.tokenIds.length;
        break;
      case 'StepStarted':
      case 'RolloutRequested':
      case 'AdvantagesComputed':
      case 'WeightsPublished':
      case 'StepCompleted':
        break;
      default: {
        const never: never = e;
        throw new Error(`foldEvents: unhandled event type ${(never as SpecstreamEvent).type}`);
      }
    }
  }
  if (owned.size === 0) return state;
  const steps = new Map(state.steps);
  for (const [step, o] of owned) {
    steps.set(step, {
      seen: idSetWithLayer(o.seenBefore, o.fresh),
      workers: o.workers,
      rewards: o.rewards ?? o.base.rewards,
      updates: o.updates ?? o.base.updates,
      rollouts: o.rollouts,
    });
  }
  return { steps };
}

export interface SelectOptions {
  /** Only this worker's spec-decode counters (other metrics unchanged). */
  worker?: string;
  fromStep?: number;
  toStep?: number;
}

const byId = <T>(m: ReadonlyMap<string, T>): T[] =>
  [...m.keys()].sort().map((k) => m.get(k)!);

/**
 * The metrics of one step, as the flat record the live run and replay print.
 *
 * 1. spec_decode: sum the step's per-worker counters (or one worker's) — the step's delta of
 *    the aggregate — and derive the metrics (./specDecode.ts) with mean k = kSum / drafts.
 * 2. reward: `reward/mean` over the step's rewards and `reward/<component>/mean` (summed in
 *    event-id order so the bits do not depend on arrival order).
 * 3. rollout: `rollout/count`, `rollout/mean_length`.
 * 4. train (policy) / draft: `…/loss`, `…/grad_norm`, `…/lr`, `…/weights_version`, and each
 *    entry of `metrics` as `…/<name>`, from the newest PolicyUpdated of that model.
 */
export function selectStep(step: number, s: StepState, options: SelectOptions = {}): StepMetrics {
  const ws = options.worker === undefined ? [...s.workers.values()] : [s.workers.get(options.worker)].filter((w) => w !== undefined);
  const delta = aggregateCounters(ws);
  let kSum = 0;
  for (const w of ws) kSum += w.kSum;
  const out: Record<string, number> = { step, ...specDecodeMetrics(delta, delta.numDrafts > 0 ? kSum / delta.numDrafts : 0) };
  if (s.rewards.size > 0) {
    const rewards = byId(s.rewards);
    let sum = 0;
    const comp = new Map<string, { sum: number; n: number }>();
    for (const r of rewards) {
      sum += r.reward;
      for (const [name, v] of Object.entries(r.components)) {
        const c = comp.get(name) ?? { sum: 0, n: 0 };
        comp.set(name, { sum: c.sum + v, n: c.n + 1 });
      }
    }
    out['reward/mean'] = sum / rewards.length;
    out['reward/count'] = rewards.length;
    for (const name of [...comp.keys()].sort()) out[`reward/${name}/mean`] = comp.get(name)!.sum / comp.get(name)!.n;
  }
  if (s.rollouts.count > 0) {
    out['rollout/count'] = s.rollouts.count;
    out['rollout/mean_length'] = s.rollouts.tokens / s.rollouts.count;
  }
  for (const [model, prefix] of [['policy', 'train'], ['draft', 'draft']] as const) {
    const u = s.updates.get(model);
    if (!u) continue;
    out[`${prefix}/loss`] = u.data.loss;
    out[`${prefix}/grad_norm`] = u.data.gradNorm;
    out[`${prefix}/lr`] = u.data.lr;
    out[`${prefix}/weights_version`] = u.data.weightsVersion;
    for (const name of Object.keys(u.data.metrics).sort()) out[`${prefix}/${name}`] = u.data.metrics[name]!;
  }
  return out as StepMetrics;
}

/** Every step's metrics, in step order, within the options' step range. */
export function selectStepMetrics(state: MetricsState, options: SelectOptions = {}): StepMetrics[] {
  const from = options.fromStep ?? -Infinity;
  const to = options.toStep ?? Infinity;
  return [...state.steps.keys()]
    .filter((s) => s >= from && s <= to)
    .sort((a, b) => a - b)
    .map((s) => selectStep(s, state.steps.get(s)!, options));
}

/** Per-step metrics of a whole sequence of events: what both the live run and replay print. */
export function foldStepMetrics(events: readonly SpecstreamEvent[], options: SelectOptions = {}): StepMetrics[] {
  return selectStepMetrics(foldEvents(emptyMetricsState, events), options);
}

/**
 * The monotonic per-worker counters (vLLM's view) after every step ≤ `upToStep`: the sum of the
 * per-step deltas. `aggregateCounters` of its values is the run's aggregate at that point.
 */
export function selectWorkerCounters(state: MetricsState, upToStep = Infinity): Map<string, SpecDecodeCounters> {
  const out = new Map<string, SpecDecodeCounters>();
  for (const [step, s] of state.steps) {
    if (step > upToStep) continue;
    for (const [worker, c] of s.workers) out.set(worker, aggregateCounters([out.get(worker) ?? aggregateCounters([]), c]));
  }
  return out;
}
