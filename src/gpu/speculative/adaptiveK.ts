/**
 * Theoretical speedup of speculative decoding over plain decoding (REFERENCE.md):
 * S(α, c, k) = (1 − α^(k+1)) / ((1 − α)(k·c + 1)), with per-token acceptance α, draft/target
 * cost ratio c and k drafts (α = 1: (k + 1) / (k·c + 1)).
 */
export function theoreticalSpeedup(alpha: number, c: number, k: number): number {
  const tokens = alpha >= 1 ? k + 1 : (1 - alpha ** (k + 1)) / (1 - alpha);
  return tokens / (k * c + 1);
}

export interface AdaptiveKOptions {
  /** Largest draft length considered (k ∈ {0, …, kMax}). */
  readonly kMax: number;
  /**
   * Weight of history in the acceptance estimates, per observation (default 0.98: the last ~50
   * observations dominate), so acceptance follows a policy drifting away from its draft.
   */
  readonly decay?: number;
  /** Measured gain over k = 0 that speculation needs to be chosen (default 0.05 = 5%). */
  readonly minGain?: number;
  /**
   * Exploration budget: rounds with k ≥ 1 may have lost at most this share of the elapsed time
   * against plain decoding (default 0.015), plus one plain round's worth to start with.
   */
  readonly exploreBudget?: number;
  /** Rounds per (bucket, k) a measured rate is computed over (default 8, the most recent). */
  readonly window?: number;
  /**
   * While speculating, re-measure k = 0 (three rounds) after this many rounds of the bucket
   * (default 32; 2× while the best k wins by ≥ 20%, 4× at ≥ 40%).
   */
  readonly refreshEvery?: number;
  /** While k = 0 wins, probe k = 1 after 16, 32, … rounds, at most every this many (default 128). */
  readonly probeEvery?: number;
}

/** One finished round, as measured by the engine (wall clock, everything but a wave's admission: `measuredSeconds`). */
export interface RoundMeasurement {
  readonly batchSize: number;
  /** Draft length chosen for the round (the drafter may have proposed fewer). */
  readonly k: number;
  /**
   * Tokens per row this round that count for throughput: the batch's mean while a full wave of
   * requests waits (continuous batching refills a freed row at once), otherwise how far the
   * round brought the end of the work closer (`frontierTokens`: the work ends when the slowest
   * rows do, so speculation that helps the other rows only does not shorten it).
   */
  readonly tokensPerRow: number;
  /**
   * Seconds of the whole engine step: joins and departures of rows (cache copies), drafting (a
   * model drafter's catch-up included), the target forward (cache compaction included),
   * acceptance and host overhead.
   */
  readonly seconds: number;
  /**
   * Tokens per row a stateful drafter (a draft model) caught up on in this round: what it missed
   * while speculation was off (the whole sequence the first time). 0 or absent otherwise.
   */
  readonly catchUp?: number;
  /**
   * Cache slots per row before the round. Plain rounds fit the slope of a round's cost over the
   * cache's length (`slotCost`), which prices the lead speculation leaves in the cache.
   */
  readonly pastLength?: number;
  /** A round with k ≥ 1: the lead it gave the cache (`cacheLead`). */
  readonly lead?: CacheLead;
}

/**
 * What a speculative round leaves in a cache that all rows share (one length for all, set by the
 * longest row): when rows accept different numbers of drafts, the cache grows by the most a row
 * at the front advanced while the batch advanced by the mean, and every later round attends over
 * and — on a CPU — copies the excess, until the rows ahead leave. CPU, batch 8, rollout reuse:
 * speculation early in a wave left the cache 12–15% longer (110–113 against 98 slots on
 * average), and the ~200 plain rounds after it cost 7.5–7.7 instead of 6.6–7.0 ms, while the
 * rounds that made the lead won ~2× each.
 */
export interface CacheLead {
  /** Slots the cache grew by beyond the rows' mean progress, now. */
  readonly slots: number;
  /**
   * The same summed over the rounds ahead (slot-rounds): for every stretch of rounds in which
   * the same rows still run (until the next one reaches its length budget), the growth of the
   * longest of them beyond the batch's mean progress. Negative when rows behind caught up.
   */
  readonly slotRounds: number;
}

/** The running batch as `AdaptiveK.choose` prices a round's cache lead with it. */
export interface LeadContext {
  /** Valid tokens per row. */
  readonly lengths: readonly number[];
  /** Tokens each row may still generate. */
  readonly remaining: readonly number[];
  /** The rows' sequence ids (their own acceptance, `observeAcceptance`'s `row`). */
  readonly ids?: readonly string[];
}

/**
 * Rows by tokens left, most first, and how long each prefix of them runs alone: stretch j (the
 * j + 1 rows with the most left) lasts remaining[j] − remaining[j + 1] rounds (plain rounds ahead).
 */
function stretches(remaining: readonly number[]): { order: number[]; lasts: number[] } {
  const order = remaining.map((_, r) => r).sort((a, b) => remaining[b]! - remaining[a]!);
  const lasts = order.map((r, j) => Math.max(0, remaining[r]! - (j + 1 < order.length ? remaining[order[j + 1]!]! : 0)));
  return { order, lasts };
}

/**
 * The lead one round gave the cache (`CacheLead`), from the rows' valid lengths before and after
 * it and what each may still generate after it.
 *
 * 1. progress = the rows' mean length gain.
 * 2. slots = (longest after − longest before) − progress.
 * 3. Order rows by tokens left, most first; the j + 1 first run alone for remaining[j] −
 *    remaining[j + 1] rounds; slotRounds = Σ_j that × (growth of the longest of them − progress).
 *
 * @param before valid tokens per row before the round
 * @param after the same rows after it
 * @param remainingAfter tokens each row may still generate after it (0 once finished)
 */
export function cacheLead(before: readonly number[], after: readonly number[], remainingAfter: readonly number[]): CacheLead {
  const n = before.length;
  if (n === 0) return { slots: 0, slotRounds: 0 };
  let progress = 0;
  for (let r = 0; r < n; r++) progress += after[r]! - before[r]!;
  progress /= n;
  const { order, lasts } = stretches(remainingAfter);
  let maxBefore = -Infinity;
  let maxAfter = -Infinity;
  let slotRounds = 0;
  order.forEach((r, j) => {
    maxBefore = Math.max(maxBefore, before[r]!);
    maxAfter = Math.max(maxAfter, after[r]!);
    slotRounds += lasts[j]! * (maxAfter - maxBefore - progress);
  });
  return { slots: Math.max(...after) - Math.max(...before) - progress, slotRounds };
}

/**
 * Tokens of a round that brought the end of the work closer, while less than a wave waits: the
 * decrease of the largest number of tokens any row may still generate, capped by what the row
 * that had the most left emitted (a row that stops early must not count as speculation's gain).
 *
 * Why not just the emitted tokens of the row with the most left (the rule before): with many
 * rows close to the maximum (one wave of lengths spread over [65, 128] has ~1 token between
 * rows) that row may jump ahead by 1 + accepted while its neighbour accepts nothing and becomes
 * the new maximum, so the end comes only 1 token closer. The argmax picks whichever row is
 * behind and credits it with its own luck: at batch 64 on the CPU that overstated speculative
 * rounds by 4% (k = 1) to 13% (k ≥ 2), while a plain round advances every row, and the maximum,
 * by exactly 1. Counted this way, the rounds' tokens add up to the work's real progress for
 * every k, so k = 0 and k ≥ 1 are compared on the same basis.
 *
 * 1. Before = max remaining over the rows; after = max remaining once the round's tokens are
 *    appended (a finished row: 0).
 * 2. Return min(before − after, tokens emitted by the first row with the most remaining).
 *
 * @param remainingBefore tokens each row may still generate before the round
 * @param emitted tokens the round appended to each row
 * @param finished whether each row finished this round (a stop token or its length budget)
 */
export function frontierTokens(remainingBefore: readonly number[], emitted: readonly number[], finished: readonly boolean[]): number {
  if (remainingBefore.length === 0) return 0;
  let critical = 0;
  for (let b = 1; b < remainingBefore.length; b++) if (remainingBefore[b]! > remainingBefore[critical]!) critical = b;
  let after = 0;
  for (let b = 0; b < remainingBefore.length; b++) after = Math.max(after, finished[b] ? 0 : remainingBefore[b]! - emitted[b]!);
  return Math.min(remainingBefore[critical]! - after, emitted[critical]!);
}

/**
 * Seconds of an engine step that adaptive k measures: the whole step, except the admission of a
 * wave (joiners ≥ half the rows after it). A wave's prefill is the same for every k and costs
 * several steps (at batch 64 on the CPU the first round took 0.21 s against 0.04 s for the next):
 * as one of a new bucket's first 2 plain samples (too few for the spike filter) it cut the plain
 * reference to a third, so every speculative round looked like a large win — the ledger said
 * −38% while the run lost 7%. Rows joining one by one stay in: their cache copies are what
 * speculation's out-of-step departures cost.
 *
 * @param stepSeconds the whole step (admission, departures, draft, verify, host)
 * @param admissionSeconds the admission of joiners (prefill, cache copies)
 * @param joiners rows admitted in the step
 * @param batchSize rows verified in the step
 */
export function measuredSeconds(stepSeconds: number, admissionSeconds: number, joiners: number, batchSize: number): number {
  return 2 * joiners >= batchSize && joiners > 0 ? stepSeconds - admissionSeconds : stepSeconds;
}

/**
 * Proposal rate and acceptance given a proposal (conditional per position), pooled over all
 * rows or one sequence's own.
 */
interface GivenAcceptance {
  /** EMA of "the row proposed ≥ 1 token" over row-rounds told the proposal's length. */
  proposing: Ema | undefined;
  /** Per position i: EMA of "draft i accepted" over those with a proposal that accepted 0 … i − 1. */
  readonly accept: Array<Ema | undefined>;
}

/** Records one row-round that asked for k drafts, proposed `proposed` and had `accepted` accepted. */
function observeGiven(g: GivenAcceptance, k: number, accepted: number, proposed: number, decay: number): void {
  g.proposing = emaAdd(g.proposing, proposed > 0 ? 1 : 0, decay);
  if (proposed > 0) observeConditional(g.accept, k, accepted, decay);
}

/** Conditional acceptance per position: position i is judged only where drafts 0 … i − 1 were accepted. */
function observeConditional(accept: Array<Ema | undefined>, k: number, accepted: number, decay: number): void {
  for (let i = 0; i < k && i <= accepted; i++) accept[i] = emaAdd(accept[i], i < accepted ? 1 : 0, decay);
}

interface Sample {
  /** Tokens emitted per row. */
  readonly tokens: number;
  readonly seconds: number;
}

interface Arm {
  samples: Sample[];
  /** The bucket's round count when this arm last ran. */
  lastRound: number;
  /**
   * Σ tokens, Σ seconds and the number of the samples without spikes, summed once when the
   * samples change (`keep`): rates and costs read them every round.
   */
  keptTokens: number;
  keptSeconds: number;
  kept: number;
}

/**
 * Replaces an arm's samples and sums, in order, those without spikes (`plain`: the k = 0 arm's
 * rule). Spikes: samples over 1.5× the median seconds (≥ 3 samples; for the plain arm also, of
 * two, the slower when it took over 1.5× the faster: slowdowns are one-sided, and a plain rate
 * too low flatters speculation). Another process taking the cores for a moment must not decide
 * which k wins; on the H200 a plain batch-1 round takes 4.8 ms but now and then 9.4–10.7 ms
 * (1.96–2.2×), which a 2× cut let through into the plain reference; and a bucket's first 2 plain
 * rounds at batch 8 (4.8, then 10.4 ms) cut its plain rate by a third, so that speculation
 * losing 5% was measured as an 11% win for 40 rounds.
 */
function keep(arm: Arm, samples: Sample[], plain: boolean): void {
  arm.samples = samples;
  let tokens = 0;
  let seconds = 0;
  let kept = 0;
  if (plain && samples.length === 2 && spiked(samples[0]!, samples[1]!)) {
    const faster = samples[0]!.seconds < samples[1]!.seconds ? samples[0]! : samples[1]!;
    tokens = faster.tokens;
    seconds = faster.seconds;
    kept = 1;
  } else {
    const limit = samples.length >= 3 ? SPIKE * medianSeconds(samples) : Infinity;
    for (const x of samples) {
      if (x.seconds > limit) continue;
      tokens += x.tokens;
      seconds += x.seconds;
      kept++;
    }
  }
  arm.keptTokens = tokens;
  arm.keptSeconds = seconds;
  arm.kept = kept;
}

/** The mean seconds of an arm's rounds without spikes. */
function meanSeconds(arm: Arm): number {
  return arm.keptSeconds / arm.kept;
}

interface Bucket {
  readonly arms: Map<number, Arm>;
  rounds: number;
  /** At one row without shadows: a sequence with no acceptance of its own started; probe it once (`choose`). */
  rowProbe: boolean;
  /** Rounds since k = 0 last ran. */
  sinceZero: number;
  /** Rounds since speculation (any k ≥ 1) last ran. */
  sinceSpec: number;
  probeAfter: number;
  /** The last choice at this bucket was a k = 1 probe. */
  probing: boolean;
  /** Rounds a probe at one row without shadows still runs (`PROBE_ROUNDS`). */
  probeLeft: number;
  /** k of the bucket's last round, and whether it differed from the round before. */
  lastK: number | null;
  switched: boolean;
  /** Plain rounds still to run for a refresh of R(b, 0) (three: the first one is a switch). */
  refreshLeft: number;
  /** Refreshes of R(b, 0) begun while speculating (the first one comes at `refreshEvery` in any case). */
  refreshes: number;
  /** Plain rounds left before `choose` compares every k again (settled on k = 0). */
  quiet: number;
  /** Plain rounds before the exploration the last comparison wanted fits the budget, at the soonest (`decide`). */
  unaffordable: number;
  /** The catch-up per row when `unaffordable` was priced. */
  unaffordableCatchUp: number;
  /** The best plain rate measured at this bucket (over ≥ 2 samples). */
  bestPlain: number;
  /**
   * Seconds a switch adds over the steady round of the k switched to (EMA): on a CPU buffers
   * re-planned for new shapes, for a draft model the catch-up over every token it missed.
   */
  switchExcess: Ema | undefined;
  /**
   * Seconds a switch into speculation adds per token (per row) a stateful drafter catches up on,
   * beyond `switchExcess` (EMA): a draft model's catch-up grows with the tokens it missed, so a
   * probe after 100 plain rounds costs far more than the first one after the prompt.
   */
  catchUpCost: Ema | undefined;
  /** Plain rounds' seconds against the cache length (`slotCost`). */
  slope: SlopeFit;
  /** Σ lead slots × rounds carried over this bucket's speculative rounds (`CacheLead`). */
  leadSlotRounds: number;
  /** The measured arms' [k, mean seconds], sorted by k (`expectedCost`); undefined once the samples change. */
  points: ReadonlyArray<readonly [number, number]> | undefined;
  /** A slot cost measured outside the rounds (`observeSlotCost`), until the fit has one. */
  slotPrior: number | undefined;
  /** The target's forward over k + 1 positions in one-position forwards, k = 0 … kMax (`observeVerifyCurve`). */
  verifyCurve: readonly number[] | undefined;
  /** One `propose` of k tokens in one-position forwards of the target, k = 0 … kMax (`observeDraftCurve`). */
  draftCurve: readonly number[] | undefined;
  /**
   * What speculative rounds cost beyond C₀·(curve(k) + draft(k)), in plain rounds (EMA): host
   * work, acceptance, a longer catch-up than the measured one (`curveRate`).
   */
  rest: Ema | undefined;
}

/** Exponentially weighted least squares of y over x, with the range of x seen. */
interface SlopeFit {
  n: number;
  w: number;
  x: number;
  y: number;
  xx: number;
  xy: number;
  lo: number;
  hi: number;
}

interface Ema {
  value: number;
  weight: number;
}

function emaAdd(e: Ema | undefined, x: number, decay: number): Ema {
  if (!e) return { value: x, weight: 1 };
  // In place: every holder replaces its own EMA with the result (none is shared), and an
  // observation per row and position each round allocated one object each.
  e.weight = e.weight * decay + 1;
  e.value += (x - e.value) / e.weight;
  return e;
}

/**
 * Chooses the draft length k per round from *measured wall-clock tokens per second*, so that
 * speculation runs only where it measures faster than plain decoding (k = 0), and the rounds
 * spent finding out cost a bounded share of the time.
 *
 * Per batch-size bucket b (1, 2, 3–4, 5–8, …) and k, the arm (b, k) keeps the last `window`
 * rounds: tokens per row (the batch mean while a full wave of requests waits; otherwise how far
 * the round moved the end of the work, `frontierTokens`) and seconds (draft + verify + host:
 * whatever the round cost, a wave's admission left out, `measuredSeconds`).
 * Its rate R(b, k) = Σ tokens / Σ seconds (samples over 1.5× the window's median dropped: another
 * process took the cores).
 *
 * 1. A new bucket runs k = 0 first (2 rounds): plain decoding is the reference and costs nothing
 *    against itself.
 * 2. Exploit: the k with the best rate among arms with ≥ 3 samples; k ≥ 1 only if it beats
 *    R(b, 0) by `minGain`. For k ≥ 1 the rate is the measured one capped by the prediction
 *    E(k) / Ĉ(k) (`exploitRate`): a few rounds' tokens are noisy where one row decides the end.
 *    At batch 1 it is the prediction alone (also while the arm is still being measured): one
 *    row's tokens per round (1 to k + 1) are far noisier than the pooled acceptance.
 * 3. Explore: the arm not yet measured (or not run for 64 rounds) with the best *predicted*
 *    rate, if that beats the exploit arm. Prediction: E(k) / Ĉ(k), with E(k) = 1 + Σ_{i<k} r_i
 *    from the per-position acceptance (blended with a weak prior, `acceptanceAt`) and Ĉ(k) the
 *    round cost interpolated between measured arms (past the longest measured k: extrapolated at
 *    the steeper of the last segment's slope and the mean slope from k = 0). The
 *    first arm explored is k = 1 (cheapest; measures the cost slope). While k = 0 wins, k = 1 is
 *    probed after 16, 32, … rounds (at most `probeEvery`) so acceptance stays measured (a drafter
 *    with a model and cost curves: at the k the curves price best, `probeK`); a k = 1
 *    predicted below 85% of plain waits `probeEvery` rounds at once (`hopeless`). With a free
 *    drafter (n-gram, rollout reuse: `Drafter.free`) the engine drafts in the shadow of k = 0
 *    rounds and reports what plain decoding then emitted (`observeShadow`): acceptance stays
 *    measured without probes, so once the bucket has measured a speculative round's cost the
 *    blind probes stop, and a stale arm is explored when that fresh acceptance predicts a win.
 * 3b. A new bucket starts from the other buckets' evidence (a batch shrinking 64 → 1 as rows
 *    finish passes 7 buckets in ~127 rounds; exploring anew in each costs more than speculation
 *    wins back): acceptance is pooled over buckets anyway, and round costs are predicted from
 *    the relative costs Ĉ(k) / Ĉ(0) of the nearest buckets that measured speculation
 *    (`predictedCost`). Its first speculative arm is the best predicted k, only if that beats
 *    plain by 2 × `minGain`, and none when it is larger than every such bucket and the largest
 *    found k = 0 best (`firstExploration`); the probes of step 3 still run.
 * 4. Budget: every round with k ≥ 1 adds its loss against plain, seconds − tokens / R(b, 0), to
 *    a ledger (a gain subtracts). Exploration is allowed only while ledger + the round's
 *    worst-case loss (Ĉ(k) − 1 / R(b, 0), no token accepted) ≤ `exploreBudget` · elapsed + one
 *    plain round. So speculation that pays buys more exploration, and a drafter that never pays
 *    costs at most ~1.5% of the time.
 * 5. While speculating, k = 0 runs again (three rounds) every `refreshEvery` rounds (2× that
 *    while the best k wins by ≥ 20%, 4× at ≥ 40%: `refreshInterval`), and its rate is taken over
 *    its last 4 samples only: its cost grows with the cache (and with other processes' load),
 *    and an old plain rate would flatter speculation.
 * 6. Switching k costs: on a CPU a plain step right after a longer one costs ~1.5× a steady
 *    one (ONNX Runtime re-plans its buffers for the new shapes). The first round after a switch
 *    is therefore not a sample of its arm (it still goes to the ledger, a switch back to k = 0
 *    included), and a k switched to runs at least two rounds.
 * 7. The plain reference is the recent plain rate but at least 90% of the best one measured at
 *    the bucket: plain rounds between speculative ones pay for what speculation leaves behind.
 * 8. Safety net: exploitation of k ≥ 1 stops while the ledger exceeds twice the exploration
 *    budget (3% of the elapsed time plus two plain rounds): a comparison that noise made look
 *    like a win is caught by the total.
 * 9. Cache lead: rows share one cache length, set by the longest row, so a speculative round
 *    whose rows accept unequal numbers of drafts grows the cache by more than the batch
 *    advanced, and every later round pays for those slots until the longest row leaves
 *    (`CacheLead`). A k ≥ 1 is priced with it: σ(b) (a round's cost per slot, fitted on plain
 *    rounds: `slotCost`) × the expected excess slot-rounds for the running rows' lengths and
 *    tokens left (`expectedLead`, from `choose`'s `LeadContext`), added to the round's cost in
 *    every rate above; the lead that rounds really left goes to the ledger at the current σ(b).
 *    So a wave's early speculation, whose lead is carried for ~100 rounds, pays only where it
 *    wins more than that; rows far behind the longest one speculate freely until they lead; a
 *    wave's tail, with few rounds left, speculates freely. One row has no lead.
 * 10. Cost curves: with the target's verify-cost curve (`observeVerifyCurve`) and, for a
 *    drafter with a model, its own cost per k (`observeDraftCurve`), measured at the engine's
 *    start at one row and at its largest batch, a k is priced by what its round costs in plain
 *    rounds (`curveRate`) rather than by a line through the arms measured: it is the rate at
 *    one row, caps the measured rate at several, prices arms not yet run, and picks a bucket's
 *    first exploration (none for a free drafter that the curve prices out).
 *
 * @example
 * const ak = new AdaptiveK({ kMax: 6 });
 * const k = ak.choose(batch.length);
 * // … run the round …
 * ak.observeAcceptance(k, accepted); // per sequence
 * ak.observeRound({ batchSize, k, tokensPerRow, seconds });
 */
export class AdaptiveK {
  readonly kMax: number;
  private readonly decay: number;
  private readonly minGain: number;
  private readonly budget: number;
  private readonly window: number;
  private readonly refreshEvery: number;
  private readonly probeEvery: number;
  /**
   * Per position i: EMA of "draft i accepted" over sequence-rounds that asked for > i drafts and
   * accepted drafts 0 … i − 1 (conditional: r_i = r_{i−1} × this, `acceptanceAt`).
   */
  private readonly accept: Array<Ema | undefined> = [];
  /** Per sequence id (the latest `MAX_ROWS`): its own acceptance, told by `observeAcceptance`'s `row`. */
  private readonly rows = new Map<string, GivenAcceptance>();
  /** The one running row of the round being chosen (`choose` at one row), if it has its own acceptance. */
  private row: GivenAcceptance | undefined;
  private readonly buckets = new Map<number, Bucket>();
  private ledger = 0;
  private elapsed = 0;
  /** Acceptance is measured by shadow drafts too (`observeShadow`). */
  private shadowed = false;
  /** Pooled over row-rounds told the proposal's length: how often a row proposes, acceptance given a proposal. */
  private readonly given: GivenAcceptance = { proposing: undefined, accept: [] };
  /** The running batch of the round being chosen (`choose`), for `leadPenalty`. */
  private context: LeadContext | undefined;
  /** The catch-up of the round being chosen (`choose`). */
  private catchUpNow = 0;
  /** `leadPenalty` per k for the current context (reset by `choose`). */
  private penalties = new Map<number, number>();
  /**
   * Predicted costs per (bucket, k) since the last observed round (`cached`): `choose` asks for
   * them many times over, and for a bucket without its own costs each walks every other bucket's
   * (at batch 8 on a CPU with 7 buckets measured, 0.2–0.3 ms a round before the memo). Measured
   * rates and costs need none: an arm sums its samples once when they change (`keep`), and a
   * bucket keeps its sorted cost points (`points`).
   */
  private readonly memo = new Map<number, number | undefined>();
  /** At one row: the sequence of the last `choose`. */
  private runningRow: string | undefined;
  /** The last `decide` found k = 0 best and nothing to explore. */
  private settled = false;
  /** r_0, r_1, … as far as asked since the acceptance last changed (`acceptanceAt`). */
  private readonly profile: number[] = [];

  constructor(options: AdaptiveKOptions) {
    if (!Number.isInteger(options.kMax) || options.kMax < 0) {
      throw new Error(`AdaptiveK: kMax must be an integer ≥ 0, received ${options.kMax}`);
    }
    this.kMax = options.kMax;
    this.decay = options.decay ?? 0.98;
    this.minGain = options.minGain ?? 0.05;
    this.budget = options.exploreBudget ?? 0.015;
    this.window = options.window ?? 8;
    this.refreshEvery = options.refreshEvery ?? 32;
    this.probeEvery = options.probeEvery ?? 128;
  }

  /**
   * Seconds that rounds with k ≥ 1 lost against plain decoding so far (negative: gained),
   * including the lead they left in the cache (`CacheLead`) at each bucket's current slot cost —
   * also for rounds that ran before that cost was measured.
   */
  get lossSeconds(): number {
    let lead = 0;
    for (const [b, st] of this.buckets) if (st.leadSlotRounds !== 0) lead += (this.slotCost(2 ** b) ?? 0) * st.leadSlotRounds;
    return this.ledger + lead;
  }

  /** Seconds of all observed rounds. */
  get elapsedSeconds(): number {
    return this.elapsed;
  }

  /**
   * The draft length for the next round at `batchSize` sequences.
   * @param catchUp tokens per row a stateful drafter would catch up on if this round speculated
   *   (what it missed while speculation was off; 0 for a drafter without state): a switch into
   *   speculation is priced with it once one catch-up has been measured (`catchUpCost`).
   * @param lead the running rows' lengths and the longest row's horizon: a k ≥ 1 is priced with
   *   the cache lead it is expected to leave (`leadPenalty`); without it, no lead is priced.
   */
  choose(batchSize: number, catchUp = 0, lead?: LeadContext): number {
    this.context = lead;
    this.catchUpNow = catchUp;
    this.row = batchSize === 1 && lead?.ids?.length === 1 ? this.rows.get(lead.ids[0]!) : undefined;
    this.penalties.clear();
    if (this.kMax === 0) return 0;
    const st = this.bucket(batchSize);
    if ((st.arms.get(0)?.samples.length ?? 0) < MIN_PLAIN) return 0;
    // A probe at one row without shadows runs `PROBE_ROUNDS` rounds, within the budget or not
    // once it started (the switch in and the catch-up, its dear part, are paid in its first
    // round): one row's round emits 1 to k + 1 tokens, and a probe cut to one round by the
    // budget was judged on one acceptance observation. CPU, batch 1, draft model: probes of 1–2
    // rounds emitted 1–3 tokens where steady rounds averaged 2.7, and adaptive k stayed at
    // k = 0 for hundreds of rounds (0.95× plain) while a fixed k = 4 ran 1.15×.
    if (st.probeLeft > 0 && st.lastK !== null && st.lastK > 0) {
      st.probeLeft--;
      return st.lastK;
    }
    // A k just switched to runs a second round: the first round after a switch pays for the
    // change of shapes (on a CPU, ~+50% for a plain step right after a longer one) and is not
    // a sample of the arm.
    if (st.switched && st.lastK !== null && st.lastK > 0 && this.affordable(batchSize, st.lastK, catchUp)) return st.lastK;
    // At one row, a k explored for the first time runs until its arm has `MIN_SAMPLES` rounds:
    // one row's tokens per round are 1 to k + 1, and two rejected rounds (p = 0.12 at an
    // acceptance of 0.66) priced a draft model that wins 10–20% below plain until the next
    // probe, ~100 rounds later (CPU, batch 1).
    // Not held to the budget: at the first rounds the budget is a fraction of a round, and a
    // switch in with a catch-up over the prompt used it up (a k = 1 first exploration of one
    // round, then none for ~120 rounds). Once per arm: at most kMax × 3 rounds.
    // A drafter whose acceptance only speculative rounds measure (no shadows: a draft model)
    // also runs until position 0 has `FIRST_ACCEPTANCE` observations: four rounds at k = 2 that
    // emitted 1, 3, 1, 1 tokens priced a draft model accepting ~0.66 at 0.4, below plain, and
    // the next probe came ~120 rounds later (CPU, batch 1; the same workload's other
    // repetitions speculated at k = 4 and ran 1.05× plain).
    if (batchSize === 1 && st.lastK !== null && st.lastK > 0 && ((st.arms.get(st.lastK)?.samples.length ?? 0) < MIN_SAMPLES || (!this.shadowed && (this.accept[0]?.weight ?? 0) < FIRST_ACCEPTANCE))) return st.lastK;
    // Settled on plain decoding with several rows (k = 0 best measured, nothing to explore or
    // no budget for it): the evidence moves by one plain round and a few acceptance
    // observations a round, so the full comparison (every k's rate, exploration, the lead) runs
    // every `QUIET_ROUNDS` rounds only. Run every round it took 370–450 µs on a 2-core CPU
    // (40 µs with cold caches in a loop of its own; after a forward, ONNX Runtime's threads
    // still spin): 2–4% of a batch-8 plain round of ~7 ms. A probe that falls due is not
    // delayed. At one row only while the same sequence runs and acceptance is measured by
    // speculative rounds alone (no shadows: a draft model), so that k = 0 rounds leave it as it
    // was: a new sequence's draft may win from its first round on, and a free drafter's shadows
    // may find a repeated passage in any round. (CPU, batch 1: the full comparison took 40–50 µs
    // a round after a forward, ~1.5% of a 3 ms plain round.)
    const alone = batchSize === 1 ? lead?.ids?.[0] : undefined;
    // A new sequence at one row, where only speculative rounds measure acceptance (a draft
    // model): its drafts may be accepted far more or less than the last one's, on which the
    // bucket settled; one probe (within the budget) gives it acceptance of its own
    // (`curveRate` prices a row alone by it). CPU, batch 1: a kept state settled on k = 0 over
    // a hard sequence ran the next ones at k = 0 with 12 probe rounds in 390 (0.90× plain)
    // while a fixed k = 4 ran 1.13×.
    if (alone !== undefined && alone !== this.runningRow) {
      this.runningRow = alone;
      st.rowProbe = !this.shadowed && speculated(st) && !this.rows.has(alone);
      st.quiet = 0; // a new sequence: the full comparison at once
      st.unaffordable = 0;
    }
    const quietHere = batchSize > 1 || (!this.shadowed && alone !== undefined);
    // A probe that falls due waits too while the budget cannot afford it yet (`unaffordable`;
    // unless rows joined since with less to catch up on): CPU, batch 8, draft model, the full
    // comparison ran in 360 of 432 rounds for a probe whose catch-up the budget never reached.
    const waiting = st.unaffordable > 0 && catchUp >= st.unaffordableCatchUp;
    if (quietHere && st.quiet > 0 && !st.switched && st.lastK === 0 && (waiting || !this.probeDue(batchSize))) {
      st.quiet--;
      if (st.unaffordable > 0) st.unaffordable--;
      return 0;
    }
    this.settled = false;
    const k = this.decide(batchSize, catchUp);
    st.quiet = this.settled && k === 0 && st.lastK === 0 ? QUIET_ROUNDS - 1 : 0;
    if (st.quiet === 0) st.unaffordable = 0;
    return k;
  }

  /** `choose`'s full comparison. */
  private decide(batchSize: number, catchUp: number): number {
    const st = this.bucket(batchSize);
    const best = this.bestK(batchSize);
    if (st.refreshLeft > 0) return 0;
    if (best > 0 && st.sinceZero >= this.refreshInterval(batchSize, best)) {
      st.refreshLeft = 3;
      st.refreshes++;
      return 0;
    }
    // The safety net: speculation that measured faster but lost in total (a noisy comparison,
    // costs it leaves behind) stops until the elapsed time makes room again.
    if (best > 0 && this.lossSeconds > 2 * this.budget * this.elapsed + 2 * this.plainRound(batchSize)) return 0;
    const explore = this.candidate(batchSize, best);
    const short = explore === null ? 0 : this.shortfall(batchSize, explore, catchUp);
    if (explore !== null && short <= 0) {
      if (st.probing && batchSize === 1 && !this.shadowed) st.probeLeft = PROBE_ROUNDS - 1;
      return explore;
    }
    // Plain rounds grow the budget by `budget` × a plain round each (and leave the ledger as it
    // is): so many rounds pass before the exploration can be afforded, at the soonest — a
    // stateful drafter's catch-up grows meanwhile (`choose`'s quiet rounds).
    st.unaffordable = explore === null ? 0 : Math.floor(short / (this.budget * this.plainRound(batchSize)));
    st.unaffordableCatchUp = catchUp;
    // A bucket's first exploration, while a stateful drafter has next to nothing to catch up on
    // (its state was prefilled at admission), is not held to the budget, which is a fraction of
    // a round at the start: held to it, it waited until the budget outgrew the catch-up price —
    // CPU, batch 8, draft model: round 117, a 28 ms catch-up over ~100 tokens per row that the
    // price from the prefill had put far lower, 2.7% of the run for one probe.
    if (explore !== null && !speculated(st) && catchUp > 0 && catchUp < MIN_CATCH_UP) return explore;
    // The best measured k, nothing to explore (or no budget for it): this changes slowly.
    this.settled = true;
    return best;
  }

  /**
   * Whether a stateful drafter should take in sequences that join at `batchSize` now (prefill
   * its state at admission, outside the measured rounds) rather than catch up on them lazily in
   * its first `propose`: while the bucket speculates (its last k ≥ 1), and before its first
   * exploration — when that exploration will come (`firstExploration`). Otherwise the bucket has
   * found k = 0 best or will not explore, and a prefill would be work for drafts that may never
   * run. A first probe that carries the prompts' catch-up is dearer than the exploration budget
   * lets it be: CPU, batch 8, draft model, 20-token prompts: 27 ms against a 5 ms plain round,
   * after which no larger k was affordable, while fixed k = 4 ran 1.10–1.16× plain.
   */
  wantsDraftState(batchSize: number): boolean {
    if (this.kMax === 0) return false;
    const st = this.bucket(batchSize);
    if (st.lastK !== null && st.lastK > 0) return true;
    if (speculated(st)) return false;
    return this.firstExploration(batchSize) !== null;
  }

  /**
   * Rounds of speculation between two k = 0 refreshes: `refreshEvery`, doubled while the best k
   * beats plain by ≥ 20% and doubled again at ≥ 40% (`exploitRate` over `plainRate`), once a
   * first refresh at `refreshEvery` has re-measured plain. A refresh
   * guards a decision that a change of the plain rate could flip; the wider the margin, the
   * larger the change it takes, and each refresh gives up speculation for 3 rounds (at a 2.7×
   * margin, 32-round refreshes cost ~5% of the tokens: H200, batch 1, rollout reuse).
   */
  private refreshInterval(batchSize: number, best: number): number {
    // The first refresh comes at `refreshEvery` in any case: the margin may rest on plain
    // rounds measured while another process held the cores.
    if (this.bucket(batchSize).refreshes === 0) return this.refreshEvery;
    const margin = this.exploitRate(batchSize, best)! / this.plainRate(batchSize)! - 1;
    return this.refreshEvery * (margin >= 2 * REFRESH_MARGIN ? 4 : margin >= REFRESH_MARGIN ? 2 : 1);
  }

  /**
   * The best measured k at `batchSize` (no exploration): k ≥ 1 must beat k = 0 by `minGain`,
   * judged by its `exploitRate`.
   */
  bestK(batchSize: number): number {
    const plain = this.plainRate(batchSize);
    if (plain === undefined) return 0;
    let best = 0;
    let bestRate = plain * (1 + this.minGain);
    for (let k = 1; k <= this.kMax; k++) {
      const arm = this.bucket(batchSize).arms.get(k);
      if (!arm || arm.samples.length < MIN_SAMPLES) continue;
      const rate = this.exploitRate(batchSize, k)!;
      if (rate > bestRate) [best, bestRate] = [k, rate];
    }
    return best;
  }

  /**
   * The rate exploitation believes for k ≥ 1: the measured rate R(b, k), but at most the
   * predicted E(k) / Ĉ(k) — the tokens the pooled per-position acceptance promises (measured
   * over every row of every round: hundreds of observations) over the arm's measured round cost.
   * The measured tokens of a few rounds are noisy where the work's end is decided by one or two
   * rows (`frontierTokens` in a batch without a queue): on the H200 at batch 64 the first k = 1
   * rounds advanced the end by 2 tokens, the most they can, while each row accepted with
   * p = 0.73 (E = 1.73), and speculation that lost 8% ran for the rest of the wave. Taking the
   * smaller estimate, a k needs both to say it wins; a k that really wins loses at most the
   * rounds in which its measurement is unluckily low.
   */
  exploitRate(batchSize: number, k: number): number | undefined {
    const measured = this.measuredRate(batchSize, k);
    if (measured === undefined || k === 0) return measured;
    const cost = this.expectedCost(batchSize, k);
    if (cost === undefined) return measured;
    // The cache lead the round would leave is a cost of the round too (`leadPenalty`).
    const penalty = this.leadPenalty(batchSize, k);
    const predicted = this.expectedTokens(k) / (cost + penalty);
    if (penalty > 0) return Math.min((measured * cost) / (cost + penalty), predicted, this.curveRate(batchSize, k) ?? Infinity);
    // One row: no frontier luck to guard against, and its rounds' tokens (1 to k + 1 each) are
    // far noisier than the pooled acceptance (CPU, batch 1, n-gram: one unlucky round of a k
    // that wins 15% measured it below plain, and the arm was dropped). With measured cost
    // curves: the rate they give (`curveRate`).
    if (batchSize === 1) return this.curveRate(1, k) ?? predicted;
    return Math.min(measured, predicted, this.curveRate(batchSize, k) ?? Infinity);
  }

  /**
   * The plain reference R₀(b): the recent plain rate, but at least 90% of the best plain rate
   * the bucket has measured. Plain rounds run between speculative ones pay for what speculation
   * leaves behind (a longer, holed cache; on a CPU, buffers re-planned for the new shapes) and
   * would flatter it; the 10% leave room for the cache's legitimate growth.
   */
  plainRate(batchSize: number): number | undefined {
    const recent = this.measuredRate(batchSize, 0);
    if (recent === undefined) return undefined;
    return Math.max(recent, 0.9 * this.bucket(batchSize).bestPlain);
  }

  /** R(b, k): measured tokens per row per second of the arm, or undefined before its first round. */
  measuredRate(batchSize: number, k: number): number | undefined {
    const arm = this.bucket(batchSize).arms.get(k);
    if (!arm || arm.samples.length === 0) return undefined;
    return arm.keptTokens / Math.max(1e-12, arm.keptSeconds);
  }

  /** Ĉ(k): seconds of a round with draft length k at `batchSize`, measured or interpolated. */
  expectedCost(batchSize: number, k: number): number | undefined {
    const st = this.bucket(batchSize);
    // The measured arms' mean costs by k, once per change of the samples.
    let pts = st.points;
    if (!pts) {
      const list: Array<readonly [number, number]> = [];
      for (const [kk, a] of st.arms) if (a.samples.length > 0) list.push([kk, meanSeconds(a)]);
      st.points = pts = list.sort((a, b) => a[0] - b[0]);
    }
    if (pts.length === 0) return undefined;
    // pts[0 … i − 1]: the measured k below k; pts[i …]: k and above.
    let i = 0;
    while (i < pts.length && pts[i]![0] < k) i++;
    if (i < pts.length && pts[i]![0] === k) return pts[i]![1];
    if (pts.length === 1) return undefined;
    const line = ([k0, c0]: readonly [number, number], [k1, c1]: readonly [number, number]) => c0 + (Math.max(0, c1 - c0) / (k1 - k0)) * (k - k0);
    if (i > 0 && i < pts.length) return line(pts[i - 1]!, pts[i]!);
    if (i >= 2) {
      // Past the longest measured k: the steeper of the last segment and the mean slope from
      // k = 0 (a noisy pair of nearly equal costs, e.g. k = 2, 3 at 1.85× plain on a CPU, would
      // otherwise price k = 6 like k = 3 and send exploration there).
      const last = pts[i - 1]!;
      const local = line(pts[i - 2]!, last);
      return pts[0]![0] === 0 ? Math.max(local, line(pts[0]!, last)) : local;
    }
    return Math.min(pts[0]![1], line(pts[0]!, pts[1]!));
  }

  /** E(k): expected tokens emitted per sequence-round with draft length k. */
  expectedTokens(k: number): number {
    let total = 1;
    for (let i = 0; i < k; i++) total += this.acceptanceAt(i);
    return total;
  }

  /**
   * r_i: the probability that draft position i is accepted (with every one before it): r_{i−1}
   * × the measured acceptance of position i given the positions before it accepted. Each
   * measurement is blended with `PRIOR_WEIGHT` pseudo-observations of a prior — 0.5 at position
   * 0, 0.9 after it — so that one unlucky early round does not pin a position at 0; with data the
   * measurement wins.
   */
  acceptanceAt(i: number): number {
    // r_0 … r_i, computed once per change of the acceptance (`observeAcceptance` clears them).
    return extendProfile((j) => withPrior(this.accept[j], conditionalPrior(j)), this.profile, i);
  }

  /**
   * A stateful drafter's prefill at admission — `seconds` for `rowTokens` tokens per row of
   * `batchSize` rows (the joiners' tokens over the batch's rows) — is a catch-up measured outside
   * the rounds: it seeds `catchUpCost` where no catch-up inside a probe has been measured yet.
   * With the prefill, the first probes have next to nothing to catch up on, and the first late
   * probe was priced without a catch-up (CPU, batch 8: a catch-up over ~115 tokens per row,
   * 54 ms, 9 plain rounds, let through as free).
   */
  observeCatchUp(batchSize: number, rowTokens: number, seconds: number): void {
    if (rowTokens < MIN_CATCH_UP || !(seconds > 0)) return;
    const st = this.bucket(batchSize);
    if (st.catchUpCost === undefined) st.catchUpCost = emaAdd(undefined, seconds / rowTokens, SWITCH_DECAY);
  }

  /**
   * A slot cost measured outside the rounds (`measureSlotCost`: one-token forwards at two cache
   * lengths), the bucket's σ until its plain rounds have fitted one (`slotCost`).
   */
  observeSlotCost(batchSize: number, secondsPerSlot: number): void {
    if (!(secondsPerSlot >= 0)) return;
    const st = this.bucket(batchSize);
    st.slotPrior ??= secondsPerSlot;
    this.penalties.clear();
  }

  /**
   * The target's forward over k + 1 positions at `batchSize` rows, in one-position forwards,
   * k = 0 … kMax (`measureVerifyCurve`): a round's verify cost by draft length (`curveRate`).
   */
  observeVerifyCurve(batchSize: number, curve: readonly number[]): void {
    if (curve.length === 0 || curve.some((x) => !(x > 0))) return;
    this.bucket(batchSize).verifyCurve ??= [...curve];
  }

  /**
   * What one `propose` of k tokens costs at `batchSize` rows, k = 0 … kMax, in one-position
   * forwards of the target at the same batch measured at the same time (`Drafter.measureCost`
   * over the forward's seconds): what a draft length costs before any round ran it, in units
   * that follow the machine's speed (a 2-core CPU's plain round moved 2.9–3.7 ms within a run).
   */
  observeDraftCurve(batchSize: number, curve: readonly number[]): void {
    if (curve.length === 0 || curve.some((x) => !(x >= 0))) return;
    this.bucket(batchSize).draftCurve ??= [...curve];
  }

  /** The bucket's verify-cost curve, else the nearest bucket's. */
  private verifyCurve(batchSize: number): readonly number[] | undefined {
    return this.nearest(bucketOf(batchSize), (st) => st.verifyCurve)?.[1];
  }

  /** The bucket's draft-cost curve, else the nearest bucket's. */
  private draftCurve(batchSize: number): readonly number[] | undefined {
    return this.nearest(bucketOf(batchSize), (st) => st.draftCurve)?.[1];
  }

  /** Records one round: its arm's sample, the exploration ledger, the bucket's counters. */
  observeRound(m: RoundMeasurement): void {
    const st = this.bucket(m.batchSize);
    const tokens = m.tokensPerRow;
    const switched = st.lastK !== null && st.lastK !== m.k;
    // The plain reference before the sample, for a switch's excess and the ledger (a steady plain
    // round needs neither).
    const plain = m.k > 0 || switched ? this.plainRate(m.batchSize) : undefined;
    this.elapsed += m.seconds;
    if (switched && plain !== undefined) {
      // The steady round it replaces: measured, else predicted, else affordable()'s guess.
      const steady = m.k === 0 ? 1 / plain : (this.predictedCost(m.batchSize, m.k) ?? (1 + 0.5 * m.k) / plain);
      const excess = Math.max(0, m.seconds - steady);
      // A switch in with a catch-up: what exceeds a plain switch is the catch-up's, per token.
      if (m.k > 0 && (m.catchUp ?? 0) >= MIN_CATCH_UP) {
        st.catchUpCost = emaAdd(st.catchUpCost, Math.max(0, excess - (st.switchExcess?.value ?? 0)) / m.catchUp!, SWITCH_DECAY);
      } else st.switchExcess = emaAdd(st.switchExcess, excess, SWITCH_DECAY);
    }
    // A speculative round's cost beyond the curves, in plain rounds (`curveRate`); not from a
    // spike (over `SPIKE` × the arm's mean round: another process took the cores), which the
    // arm's samples leave out too (CPU, batch 1, draft model: one 16 ms round among 6–7 ms
    // ones, with three unlucky ones, priced a k = 4 that ran 1.25× plain below plain).
    let arm = st.arms.get(m.k);
    const spike = arm !== undefined && arm.kept >= MIN_SAMPLES && m.seconds > SPIKE * meanSeconds(arm);
    if (m.k > 0 && !switched && !spike) {
      const curve = this.verifyCurve(m.batchSize);
      const draft = this.draftCurve(m.batchSize);
      const c0 = this.expectedCost(m.batchSize, 0);
      if (curve && draft && c0 !== undefined && m.k < curve.length && m.k < draft.length) {
        const rest = Math.min(REST_CAP, Math.max(-curve[m.k]!, m.seconds / c0 - curve[m.k]! - draft[m.k]!));
        st.rest = emaAdd(st.rest, rest, REST_DECAY);
      }
    }
    // Speculative rounds, and the plain round that switches back after them, go to the ledger.
    if ((m.k > 0 || switched) && plain !== undefined) this.ledger += m.seconds - tokens / plain;
    if (!arm) st.arms.set(m.k, (arm = { samples: [], lastRound: 0, keptTokens: 0, keptSeconds: 0, kept: 0 }));
    // k = 0 keeps fewer samples: while speculating it runs only in refreshes, and an old plain
    // rate (the cache was shorter, the machine busier or idler) must not decide for long.
    if (!switched) {
      const samples = arm.samples;
      samples.push({ tokens, seconds: m.seconds });
      const over = samples.length - (m.k === 0 ? Math.min(this.window, PLAIN_WINDOW) : this.window);
      if (over > 0) samples.splice(0, over);
      keep(arm, samples, m.k === 0);
      st.points = undefined;
    }
    this.memo.clear(); // predicted costs from before the sample
    arm.lastRound = ++st.rounds;
    st.switched = switched;
    st.lastK = m.k;
    if (m.k === 0 && st.refreshLeft > 0) st.refreshLeft--;
    if (m.k === 0 && !switched && arm.samples.length >= MIN_PLAIN) st.bestPlain = Math.max(st.bestPlain, this.measuredRate(m.batchSize, 0)!);
    // Plain rounds fit the slot cost; a spike (another process on the cores) is left out.
    if (m.k === 0 && !switched && m.pastLength !== undefined && m.seconds <= SPIKE * meanSeconds(arm)) fitSlope(st.slope, m.pastLength, m.seconds);
    if (m.k > 0 && m.lead) st.leadSlotRounds += m.lead.slotRounds;
    st.sinceZero = m.k === 0 ? 0 : st.sinceZero + 1;
    if (m.k > 0) {
      st.rowProbe = false;
      st.sinceSpec = 0;
      // A probe that did not turn speculation on doubles the wait; speculation winning resets it.
      if (this.bestK(m.batchSize) > 0) st.probeAfter = FIRST_PROBE;
      else if (this.hopeless(m.batchSize)) st.probeAfter = this.probeEvery;
      else if (st.probing) st.probeAfter = Math.min(this.probeEvery, 2 * st.probeAfter);
    } else st.sinceSpec++;
    st.probing = false;
  }

  /**
   * Records one sequence's verification: the round asked for `k` drafts and `accepted` were
   * accepted (a drafter that proposed fewer simply has fewer accepted: r_i measures both).
   */
  observeAcceptance(k: number, accepted: number, proposed?: number, row?: string): void {
    if (k === 0) return;
    this.profile.length = 0;
    observeConditional(this.accept, k, accepted, this.decay);
    if (proposed === undefined) return;
    // With the proposal's length: how often a row proposes, and acceptance given a proposal —
    // pooled, and the sequence's own.
    observeGiven(this.given, k, accepted, proposed, this.decay);
    if (row === undefined) return;
    let own = this.rows.get(row);
    if (!own) {
      this.rows.set(row, (own = { proposing: undefined, accept: [] }));
      if (this.rows.size > MAX_ROWS) this.rows.delete(this.rows.keys().next().value!);
    }
    observeGiven(own, k, accepted, proposed, this.decay);
  }

  /** P(a row proposes ≥ 1 token), blended with `PRIOR_WEIGHT` pseudo-observations of 0.5. */
  proposalRate(): number {
    return withPrior(this.given.proposing, 0.5);
  }

  /** E_p(k): expected tokens of a row-round with draft length k given the row proposed (priors as `acceptanceAt`). */
  proposedTokens(k: number): number {
    return profileTokens((j) => withPrior(this.given.accept[j], conditionalPrior(j)), k);
  }

  /**
   * p and E_p(k) for the one running row of the round being chosen: its own measurements, each
   * blended with `ROW_PRIOR` pseudo-observations of the pooled ones (a new row: the pooled
   * ones). A wave's last row is alone for tens of rounds: CPU, batch 8, rollout reuse, the
   * last row speculated at k = 5 for 32 rounds on the pooled acceptance of every row while
   * its own drafts were all rejected.
   */
  private rowProposal(k: number): { p: number; tokens: number } {
    const own = this.row;
    if (!own) return { p: this.proposalRate(), tokens: this.proposedTokens(k) };
    const pooled = (j: number) => withPrior(this.given.accept[j], conditionalPrior(j));
    return {
      p: withPrior(own.proposing, this.proposalRate(), ROW_PRIOR),
      tokens: profileTokens((j) => withPrior(own.accept[j], pooled(j), ROW_PRIOR), k),
    };
  }

  /**
   * The rate of k from measured cost curves (undefined without them), its cache lead included
   * (`leadPenalty`):
   * - A free drafter, once shadows measure its acceptance (`observeShadow`) and the target's
   *   verify-cost curve is known (`observeVerifyCurve`): a row proposes with probability p, and
   *   emits E_p(k) tokens if it does, 1 if not; the round's forward runs over 1 + the longest
   *   proposal, k + 1 positions if any of the b rows proposes (1 − (1 − p)^b), else one.
   *   R = [p·E_p(k) + 1 − p] / (C₀ · [1 + (1 − (1 − p)^b)·(curve(k) − 1)]). The pooled estimates
   *   mix the two kinds of round: acceptance counts an empty proposal as k rejections, and arm
   *   costs carry the rounds right after a switch (CPU, batch 1, n-gram: k = 1 measured at 1.36
   *   plain rounds and k = 4 extrapolated to 2.3, where a proposing k = 4 round verifies at ~1.4
   *   and a fixed k = 4 ran 1.13× plain). At batch 8 on a CPU a 5-position forward costs 1.8
   *   plain ones: n-gram and rollout reuse are priced out without a probe (they ran 0.70×).
   * - A drafter that measured its own cost curve (`observeDraftCurve`, a draft model): the round
   *   costs C₀·(curve(k) + draft(k) + u), u the unmodelled rest (host work, acceptance, a longer
   *   catch-up than the measurement's) that the bucket's speculative rounds measured, all in
   *   plain rounds — so that a comparison with plain follows the machine's speed (CPU, batch 1:
   *   arm costs measured while plain rounds took 3.7 ms, against a refresh at 3.0 ms, turned a
   *   10% win into a loss) — and emits E(k). A draft call has a fixed cost: CPU, batch 1, a
   *   1-layer draft: 1.2 ms at k = 1, 2.6 ms at k = 4, against a 3.1 ms plain round, so the line
   *   through k = 0 and k = 1 priced k = 4 at 13 ms (it costs 7) and adaptive k stayed at k = 0
   *   and 1 while a fixed k = 4 ran 1.10× plain.
   * Curves are measured at one row and at the engine's largest batch; a bucket between uses the
   * nearest (a larger batch's curve is the steeper one).
   */
  curveRate(batchSize: number, k: number): number | undefined {
    const curve = this.verifyCurve(batchSize);
    const c0 = this.expectedCost(batchSize, 0);
    if (!curve || k >= curve.length || c0 === undefined) return undefined;
    const lead = this.leadPenalty(batchSize, k);
    if (this.shadowed) {
      const { p, tokens } = batchSize === 1 ? this.rowProposal(k) : { p: this.proposalRate(), tokens: this.proposedTokens(k) };
      const proposing = 1 - (1 - p) ** batchSize;
      return (p * tokens + 1 - p) / (c0 * (1 + proposing * (curve[k]! - 1)) + lead);
    }
    const draft = this.draftCurve(batchSize);
    if (!draft || k >= draft.length) return undefined;
    const rest = this.bucket(batchSize).rest?.value ?? 0;
    // A row alone: its own acceptance, blended with the pooled one (`rowProposal`).
    const own = batchSize === 1 && this.row ? this.rowProposal(k) : undefined;
    const tokens = own ? own.p * own.tokens + 1 - own.p : this.expectedTokens(k);
    return tokens / (c0 * Math.max(curve[k]!, curve[k]! + draft[k]! + rest) + lead);
  }

  /**
   * Records one shadow draft (`Drafter.free`): a point-mass proposal of up to `k` tokens made
   * at a k = 0 round, of which plain decoding went on to emit the first `accepted`. For a point
   * mass, plain decoding emits the drafted token exactly as often as the acceptance rule accepts
   * it, so this is an observation of the same per-position acceptance as `observeAcceptance`.
   * From the first one on, acceptance no longer needs probing rounds: buckets that measured a
   * speculative round cost stop the blind k = 1 probes, and explore a k only when the fresh
   * acceptance predicts it beats plain (step 3).
   */
  observeShadow(k: number, accepted: number, proposed?: number, row?: string): void {
    this.shadowed = true;
    this.observeAcceptance(k, accepted, proposed, row);
  }

  /**
   * The arm to explore, or null: the first time k = 1; then the unmeasured or stale arm with the
   * best predicted rate, if that beats the exploit arm's measured rate; else, while k = 0 wins, a
   * k = 1 probe once `probeAfter` rounds passed without speculation.
   */
  private candidate(batchSize: number, best: number): number | null {
    const st = this.bucket(batchSize);
    const plain = this.plainRate(batchSize)!;
    const fresh = !speculated(st);
    if (fresh) {
      const first = this.firstExploration(batchSize);
      if (first !== null) return first;
    }
    let cand: number | null = null;
    let candRate = best === 0 ? plain * (1 + this.minGain) : this.exploitRate(batchSize, best)!;
    for (let k = 1; k <= this.kMax && !fresh; k++) {
      if (k === best) continue;
      const arm = st.arms.get(k);
      const stale = !arm || st.rounds - arm.lastRound > STALE_ROUNDS;
      let rate: number | undefined;
      if (!stale && arm!.samples.length >= MIN_SAMPLES) continue; // measured: exploitation decides
      const viaCurves = this.curveRate(batchSize, k);
      if (viaCurves !== undefined) rate = viaCurves;
      else if (!stale) rate = batchSize === 1 ? this.exploitRate(batchSize, k) : this.leadAdjusted(batchSize, k, this.measuredRate(batchSize, k)); // still being measured: trust its rounds (one row: its predicted rate)
      else {
        const cost = this.predictedCost(batchSize, k);
        rate = cost === undefined ? undefined : this.expectedTokens(k) / (cost + this.leadPenalty(batchSize, k));
      }
      if (rate !== undefined && rate > candRate) [cand, candRate] = [k, rate];
    }
    // Blind probes keep acceptance measured; shadow drafts measure it for free once the bucket
    // knows what a speculative round costs (the stale arms above are then explored on prediction).
    if (cand === null && best === 0 && (this.probeDue(batchSize) || st.rowProbe)) {
      st.probing = true;
      return this.probeK(batchSize);
    }
    return cand;
  }

  /**
   * The draft length of a blind probe: k = 1 (cheapest), unless the bucket prices draft lengths by
   * measured cost curves and a drafter with a model (`observeDraftCurve`): then the k they price
   * best. A draft call's fixed cost makes k = 1 its dearest k per token (CPU, batch 1: 1.2 ms at
   * k = 1, 2.6 ms at k = 4, against a ~3 ms plain round), and a k = 1 probe measures position 0
   * only, while the decision rests on positions 0 … 3.
   */
  private probeK(batchSize: number): number {
    if (this.shadowed || this.draftCurve(batchSize) === undefined) return 1;
    return this.bestByCurve(batchSize, 0) ?? 1;
  }

  /** The k ≥ 1 with the best `curveRate` above `floor` among those `allowed` (checked only for a new best), or null. */
  private bestByCurve(batchSize: number, floor: number, allowed: (k: number) => boolean = () => true): number | null {
    let best: number | null = null;
    let bestRate = floor;
    for (let k = 1; k <= this.kMax; k++) {
      const rate = this.curveRate(batchSize, k);
      if (rate !== undefined && rate > bestRate && allowed(k)) [best, bestRate] = [k, rate];
    }
    return best;
  }

  /**
   * Whether a blind k = 1 probe is due at the bucket: `probeAfter` rounds without speculation —
   * unless shadow drafts measure acceptance and the bucket knows what a speculative round costs
   * (it ran one, or has a verify curve).
   */
  private probeDue(batchSize: number): boolean {
    const st = this.bucket(batchSize);
    // With a verify curve the bucket knows what a speculative round costs without having run one.
    const costKnown = speculated(st) || this.verifyCurve(batchSize) !== undefined;
    return st.sinceSpec >= st.probeAfter && !(this.shadowed && costKnown);
  }

  /**
   * Ĉ(b, k) with the other buckets' evidence: the bucket's own estimate (`expectedCost`) where it
   * has one; otherwise its plain round cost times the relative cost ρ(k) = Ĉ(b′, k) / Ĉ(b′, 0)
   * borrowed from the measured buckets b′ nearest to b — interpolated linearly in the bucket index
   * between the nearest smaller and larger ones, else the nearest one's. Verification cost grows
   * with rows × positions, so ρ rises with the batch size; the nearest neighbour's ρ is the
   * evidence that moves least.
   */
  predictedCost(batchSize: number, k: number): number | undefined {
    return this.cached(memoKey(batchSize, k), () => this.computePredictedCost(batchSize, k));
  }

  private computePredictedCost(batchSize: number, k: number): number | undefined {
    const own = this.expectedCost(batchSize, k);
    if (own !== undefined) return own;
    const base = this.expectedCost(batchSize, 0);
    if (base === undefined) return undefined;
    const b = bucketOf(batchSize);
    let below: [number, number] | undefined;
    let above: [number, number] | undefined;
    for (const bb of this.buckets.keys()) {
      if (bb === b) continue;
      const rho = this.relativeCost(bb, k);
      if (rho === undefined) continue;
      if (bb < b && (!below || bb > below[0])) below = [bb, rho];
      if (bb > b && (!above || bb < above[0])) above = [bb, rho];
    }
    let rho: number;
    if (below && above) rho = below[1] + ((above[1] - below[1]) * (b - below[0])) / (above[0] - below[0]);
    else if (below ?? above) rho = (below ?? above)![1];
    else return undefined;
    return base * rho;
  }

  /**
   * ρ(b′, k) = Ĉ(b′, k) / Ĉ(b′, 0) at bucket index b′, if b′ has measured plain rounds and at
   * least one speculative arm (a plain-only bucket says nothing about what positions cost).
   */
  private relativeCost(b: number, k: number): number | undefined {
    const st = this.buckets.get(b)!;
    if ((st.arms.get(0)?.samples.length ?? 0) < MIN_PLAIN) return undefined;
    if (![...st.arms.entries()].some(([kk, a]) => kk > 0 && a.samples.length > 0)) return undefined;
    const size = 2 ** b; // any batch size of bucket b addresses it
    const c0 = this.expectedCost(size, 0);
    const ck = this.expectedCost(size, k);
    return c0 === undefined || ck === undefined ? undefined : ck / c0;
  }

  /**
   * The first speculative arm of a bucket that has run only k = 0. Without evidence elsewhere it
   * is k = 1 (cheapest; measures the cost slope); with measured cost curves, the k they price best
   * (`bestCurveK`). With evidence from other buckets (pooled
   * acceptance, borrowed relative costs: `predictedCost`) it is the k with the best predicted
   * rate, and only if that beats the plain rate by 2 × `minGain` (borrowed evidence is less sure
   * than the bucket's own); and never when the bucket is larger
   * than every bucket with speculative evidence and the largest of those found k = 0 best
   * (verification only gets dearer with more rows). Otherwise null: the bucket stays at k = 0
   * and the k = 1 probes (after 16, 32, … rounds) keep it honest.
   */
  private firstExploration(batchSize: number): number | null {
    const b = bucketOf(batchSize);
    if (this.curveRate(batchSize, 1) !== undefined) return this.bestCurveK(batchSize);
    const measured = [...this.buckets.keys()].filter((bb) => bb !== b && this.relativeCost(bb, 1) !== undefined);
    if (measured.length === 0) return 1;
    const largest = Math.max(...measured);
    if (largest < b && this.bestK(2 ** largest) === 0) return null;
    const plain = this.plainRate(batchSize);
    if (plain === undefined) return null; // borrowed evidence, no plain rate of its own yet
    let cand: number | null = null;
    let candRate = plain * (1 + BORROWED_MARGIN * this.minGain);
    for (let k = 1; k <= this.kMax; k++) {
      const cost = this.predictedCost(batchSize, k);
      if (cost === undefined) continue;
      const rate = this.expectedTokens(k) / (cost + this.leadPenalty(batchSize, k));
      if (rate > candRate) [cand, candRate] = [k, rate];
    }
    return cand;
  }

  /**
   * A first exploration priced by measured cost curves (`curveRate`): the k with the best rate
   * if it beats plain by `minGain` and fits the exploration budget now (waiting would make a
   * stateful drafter's catch-up dearer every round); otherwise, for a free drafter, none (its
   * shadows keep acceptance measured, and the bucket explores once they predict a win), and
   * for a drafter whose acceptance only speculative rounds measure, k = 1 (cheapest).
   */
  private bestCurveK(batchSize: number): number | null {
    const plain = this.plainRate(batchSize);
    const fallback = this.shadowed ? null : 1;
    if (plain === undefined) return fallback;
    return this.bestByCurve(batchSize, plain * (1 + this.minGain), (k) => this.affordable(batchSize, k, this.catchUpNow)) ?? fallback;
  }

  /**
   * Whether k = 1 is far from paying at `batchSize`: its predicted rate E(1) / Ĉ(1) (pooled
   * acceptance over the bucket's measured k = 1 round cost) is below `HOPELESS` × R(b, 0). Each
   * probe costs a switch and, for a draft model, a catch-up over every token it missed; on the
   * H200 at batch 8 four probes of a k = 1 that lost 30% cost 2% of the run. A hopeless k = 1 is
   * probed every `probeEvery` rounds only: enough to notice that acceptance or costs changed.
   */
  private hopeless(batchSize: number): boolean {
    const cost = this.expectedCost(batchSize, 1);
    const plain = this.plainRate(batchSize);
    return cost !== undefined && plain !== undefined && this.expectedTokens(1) / (cost + this.leadPenalty(batchSize, 1)) < HOPELESS * plain;
  }

  /** Seconds of a plain round at `batchSize` (1 / R(b, 0)). */
  private plainRound(batchSize: number): number {
    return 1 / this.plainRate(batchSize)!;
  }

  /**
   * Whether exploring `k` now keeps the ledger within budget even if no draft is accepted —
   * counting, when it is a switch, what a switch in and the switch back out measured to add
   * (`switchExcess`; CPU, batch 1, draft model: a probe's catch-up alone cost ~5 plain rounds,
   * which the worst case without it left out), and for a switch in, the catch-up over the tokens
   * a stateful drafter missed at the measured cost per token (`catchUpCost`): a probe after 100
   * plain rounds costs a catch-up over 100 tokens per row, not the first probe's 20.
   */
  private affordable(batchSize: number, k: number, catchUpTokens: number): boolean {
    return this.shortfall(batchSize, k, catchUpTokens) <= 0;
  }

  /** Seconds by which exploring `k` now exceeds the budget (`affordable` when ≤ 0). */
  private shortfall(batchSize: number, k: number, catchUpTokens: number): number {
    const st = this.bucket(batchSize);
    const plainRound = this.plainRound(batchSize);
    const cost = this.predictedCost(batchSize, k) ?? plainRound * (1 + 0.5 * k);
    const catchUp = st.lastK === 0 && k > 0 ? (this.catchUpPerToken(batchSize) ?? 0) * catchUpTokens : 0;
    const switching = st.lastK !== k ? 2 * (st.switchExcess?.value ?? 0) + catchUp : 0;
    return this.lossSeconds + Math.max(0, cost + this.leadPenalty(batchSize, k) - plainRound) + switching - (this.budget * this.elapsed + plainRound);
  }

  /**
   * σ(b): seconds a round at `batchSize` costs per cache slot per row, the slope of the bucket's
   * plain rounds over the cache length (exponentially weighted least squares, spikes left out),
   * once ≥ 16 rounds spanning ≥ 16 slots were seen, but at least the one measured outside the
   * rounds over 16 … 144 slots (`observeSlotCost`); else that one; else the nearest bucket's,
   * scaled by the ratio of rows (every row's slots are attended over and copied); else undefined.
   * CPU, batch 8: ~0.033 ms per slot against ~5.2 ms for a round at an empty cache.
   * At least the measured one: a round's cost need not grow evenly with the cache. H100,
   * WebGPU, batch 64: flat from 21 to 64 slots, then a step of ~15% (`bench/gpu/h100-run45.txt`
   * traces) — the slope fitted on a wave's first rounds was near 0, and early speculation that
   * put the cache 12 slots ahead moved every later round across the step 12 rounds sooner.
   */
  slotCost(batchSize: number): number | undefined {
    const b = bucketOf(batchSize);
    const near = this.nearest(b, (st) => {
      const fitted = fittedSlope(st.slope);
      return fitted === undefined ? st.slotPrior : Math.max(fitted, st.slotPrior ?? 0);
    });
    return near && near[1] * 2 ** (b - near[0]);
  }

  /**
   * Expected slot-rounds of the cache lead a round with draft length k leaves (`CacheLead`) for
   * rows of valid lengths `lengths` with `remaining` tokens left: per stretch of rounds in which
   * the same rows run alone (`cacheLead`), E[growth of the longest of them] − E(k), where for a
   * set A of rows growth = max_{r∈A} (len_r + e_r) − max_{r∈A} len_r, e_r the row's emitted
   * tokens (independent rows, P(e ≥ m) = r_{m−2} from the pooled acceptance), so
   * E[growth] = Σ_{m=1}^{k+1} (1 − Π_{r∈A} (1 − P(e_r ≥ m + lag_r))), lag_r = max len − len_r.
   * The products are kept per m while rows are added (O(rows · k)). One row: 0.
   */
  expectedLead(k: number, lengths: readonly number[], remaining: readonly number[]): number {
    if (k === 0 || lengths.length < 2) return 0;
    const atLeast = (m: number) => (m <= 1 ? 1 : m <= k + 1 ? this.acceptanceAt(m - 2) : 0);
    const mean = this.expectedTokens(k);
    const { order, lasts } = stretches(remaining);
    // none[m − 1] = Π_{r∈A} (1 − P(e_r ≥ m + lag_r)), m = 1 … k + 1, lags from `longest`.
    let none = new Array<number>(k + 1).fill(1);
    let longest = -Infinity;
    let total = 0;
    order.forEach((r, j) => {
      const len = lengths[r]!;
      if (len > longest) {
        // The rows so far are now `shift` further behind: P(e ≥ m + lag + shift) = their factor at m + shift.
        const shift = longest === -Infinity ? k + 1 : len - longest;
        none = none.map((_, i) => (i + shift <= k ? none[i + shift]! : 1));
        longest = len;
      }
      const lag = longest - len;
      for (let m = 1; m <= k + 1; m++) none[m - 1]! *= 1 - atLeast(m + lag);
      if (lasts[j]! > 0) total += lasts[j]! * (none.reduce((g, x) => g + 1 - x, 0) - mean);
    });
    return Math.max(0, total);
  }

  /**
   * Seconds the cache lead of a round with draft length k is expected to cost the rounds after
   * it: σ(b) × `expectedLead` for the running batch (`LeadContext` of the current `choose`).
   * 0 without a context or a slot cost, or at one row.
   */
  leadPenalty(batchSize: number, k: number): number {
    const ctx = this.context;
    if (k === 0 || !ctx || ctx.lengths.length < 2) return 0;
    const memo = this.penalties.get(k);
    if (memo !== undefined) return memo;
    const sigma = this.slotCost(batchSize);
    const penalty = sigma === undefined ? 0 : sigma * this.expectedLead(k, ctx.lengths, ctx.remaining);
    this.penalties.set(k, penalty);
    return penalty;
  }

  /** A measured rate of k with the round's cost raised by its `leadPenalty`. */
  private leadAdjusted(batchSize: number, k: number, rate: number | undefined): number | undefined {
    const penalty = this.leadPenalty(batchSize, k);
    const cost = this.expectedCost(batchSize, k);
    return rate === undefined || penalty === 0 || cost === undefined ? rate : (rate * cost) / (cost + penalty);
  }

  /**
   * Seconds of a catch-up per token per row at `batchSize`: the bucket's own `catchUpCost`, else
   * the nearest bucket's scaled by the ratio of rows (a catch-up is one forward over rows ×
   * tokens). A wave's tail runs in buckets of its own (8 rows, then 4, 2, 1), whose first probe
   * comes after ~100 rounds of plain decoding: CPU, batch 8 → 4, a catch-up over ~190 tokens per
   * row (24–35 ms, 5 plain rounds) went through unpriced in the new bucket.
   */
  private catchUpPerToken(batchSize: number): number | undefined {
    const b = bucketOf(batchSize);
    const near = this.nearest(b, (st) => st.catchUpCost?.value);
    return near && near[1] * 2 ** (b - near[0]);
  }

  /**
   * The bucket nearest to bucket index `b` (itself first) for which `pick` has a value, and the
   * value: a bucket without its own measurement borrows its neighbour's.
   */
  private nearest<T>(b: number, pick: (st: Bucket) => T | undefined): [number, T] | undefined {
    let near: [number, T] | undefined;
    for (const [bb, st] of this.buckets) {
      const value = pick(st);
      if (value !== undefined && (!near || Math.abs(bb - b) < Math.abs(near[0] - b))) near = [bb, value];
    }
    return near;
  }

  /** `compute()`, remembered under `key` until the next observed round. */
  private cached(key: number, compute: () => number | undefined): number | undefined {
    if (this.memo.has(key)) return this.memo.get(key);
    const value = compute();
    this.memo.set(key, value);
    return value;
  }

  private bucket(batchSize: number): Bucket {
    const b = bucketOf(batchSize);
    let st = this.buckets.get(b);
    if (!st) {
      const slope = { n: 0, w: 0, x: 0, y: 0, xx: 0, xy: 0, lo: Infinity, hi: -Infinity };
      st = { arms: new Map(), rounds: 0, rowProbe: false, sinceZero: 0, sinceSpec: 0, probeAfter: FIRST_PROBE, probing: false, probeLeft: 0, lastK: null, switched: false, refreshLeft: 0, refreshes: 0, quiet: 0, unaffordable: 0, unaffordableCatchUp: 0, bestPlain: 0, switchExcess: undefined, catchUpCost: undefined, slope, leadSlotRounds: 0, points: undefined, slotPrior: undefined, verifyCurve: undefined, draftCurve: undefined, rest: undefined };
      this.buckets.set(b, st);
    }
    return st;
  }
}

/** Whether the slower of two rounds took over `SPIKE` × the faster. */
function spiked(a: Sample, b: Sample): boolean {
  return Math.max(a.seconds, b.seconds) > SPIKE * Math.min(a.seconds, b.seconds);
}

/**
 * The lower median of the samples' seconds (an arm holds at most `window` samples): an insertion
 * sort of a handful of numbers in a buffer kept across calls (single-threaded; no allocation).
 */
function medianSeconds(samples: readonly Sample[]): number {
  const sorted = scratch.length >= samples.length ? scratch : (scratch = new Float64Array(samples.length));
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i]!.seconds;
    let j = i;
    for (; j > 0 && sorted[j - 1]! > x; j--) sorted[j] = sorted[j - 1]!;
    sorted[j] = x;
  }
  return sorted[(samples.length - 1) >> 1]!;
}
let scratch = new Float64Array(16);

/** The bucket has run a speculative round (any arm k ≥ 1). */
function speculated(st: Bucket): boolean {
  for (const k of st.arms.keys()) if (k > 0) return true;
  return false;
}

/** An EMA's value blended with `weight` pseudo-observations of `prior` (the prior alone without data). */
function withPrior(m: Ema | undefined, prior: number, weight = PRIOR_WEIGHT): number {
  return m ? (m.weight * m.value + weight * prior) / (m.weight + weight) : prior;
}

/** The prior of position j's conditional acceptance: 0.5 at position 0, 0.9 after it. */
const conditionalPrior = (j: number): number => (j === 0 ? 0.5 : 0.9);

/**
 * Per-position acceptance r_0 … r_i from the conditional acceptance of each position (given
 * 0 … j − 1 accepted; measured, blended with a prior: `conditionalPrior`): r_j = r_{j−1} × the
 * conditional; extends `profile` in place up to i. Conditional rates
 * keep deep positions in step with position 0: a k = 1 probe (CPU, batch 1, draft model)
 * measures only position 0, and unconditional deep rates stayed at the values of a hard
 * sequence long after it ended, pricing every k ≥ 2 below plain.
 */
function extendProfile(conditional: (j: number) => number, profile: number[], i: number): number {
  for (let j = profile.length; j <= i; j++) profile.push((j === 0 ? 1 : profile[j - 1]!) * conditional(j));
  return profile[i]!;
}

/** 1 + r_0 + … + r_{k−1}: the expected tokens of a row-round with draft length k (`extendProfile`). */
function profileTokens(conditional: (j: number) => number, k: number): number {
  const profile: number[] = [];
  if (k > 0) extendProfile(conditional, profile, k - 1);
  return profile.reduce((total, r) => total + r, 1);
}

/** Adds (x, y) to an exponentially weighted least-squares fit (history weight `SLOPE_DECAY` per sample). */
function fitSlope(f: SlopeFit, x: number, y: number): void {
  f.n++;
  f.w = f.w * SLOPE_DECAY + 1;
  const a = 1 / f.w;
  f.x += (x - f.x) * a;
  f.y += (y - f.y) * a;
  f.xx += (x * x - f.xx) * a;
  f.xy += (x * y - f.xy) * a;
  f.lo = Math.min(f.lo, x);
  f.hi = Math.max(f.hi, x);
}

/** The fit's slope (≥ 0) once it has `MIN_SLOPE_SAMPLES` samples spanning `MIN_SLOPE_SPAN` in x; else undefined. */
function fittedSlope(f: SlopeFit): number | undefined {
  if (f.n < MIN_SLOPE_SAMPLES || f.hi - f.lo < MIN_SLOPE_SPAN) return undefined;
  const variance = f.xx - f.x * f.x;
  if (!(variance > 0)) return undefined;
  return Math.max(0, (f.xy - f.x * f.y) / variance);
}

const MIN_PLAIN = 2;
/** Round seconds over this multiple of the arm's median are spikes (`keep`). */
const SPIKE = 1.5;
const PLAIN_WINDOW = 4;
const MIN_SAMPLES = 3;
/** Observations of position 0 a first exploration at one row gathers without shadows (`choose`). */
const FIRST_ACCEPTANCE = 8;
const STALE_ROUNDS = 64;
const FIRST_PROBE = 16;
/** Rounds of a probe at one row where only speculative rounds measure acceptance (`choose`). */
const PROBE_ROUNDS = 4;
/** History weight of the switch-cost estimate per observed switch. */
const SWITCH_DECAY = 0.8;
/** Speculation's margin over plain that doubles the rounds between refreshes (twice it: 4×). */
const REFRESH_MARGIN = 0.2;
/** A k = 1 predicted below this share of the plain rate waits `probeEvery` rounds between probes. */
const HOPELESS = 0.85;
const PRIOR_WEIGHT = 2;
/** Catch-ups of fewer tokens per row measure a plain switch (`switchExcess`), not the catch-up's cost. */
const MIN_CATCH_UP = 4;
/** A prediction from other buckets must beat plain by this many `minGain`s to be explored. */
const BORROWED_MARGIN = 2;
/** `choose`, settled on k = 0 with several rows, compares every k once per this many rounds. */
const QUIET_ROUNDS = 8;
/** Sequences whose own acceptance is kept (`observeAcceptance`'s `row`), and the weight of the pooled estimate in a row's. */
const MAX_ROWS = 256;
const ROW_PRIOR = 4;
/** History weight per round of a bucket's unmodelled rest (`curveRate`), and the most one round may add (plain rounds: a spike). */
const REST_DECAY = 0.9;
const REST_CAP = 2;
/** History weight per plain round of the slot-cost fit (~100 rounds dominate). */
const SLOPE_DECAY = 0.99;
/** The slot cost needs this many plain rounds … */
const MIN_SLOPE_SAMPLES = 16;
/** … spanning at least this many cache slots. */
const MIN_SLOPE_SPAN = 16;

/** The memo's key of (bucket, k): a number (a string built per lookup showed in profiles). */
function memoKey(batchSize: number, k: number): number {
  return bucketOf(batchSize) * 1024 + k;
}

/** Batch sizes 1, 2, 3–4, 5–8, … share a cost table. */
export function bucketOf(batchSize: number): number {
  return Math.ceil(Math.log2(Math.max(1, batchSize)));
}
