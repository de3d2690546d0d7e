import type { Subscription } from 'rxjs';
import type { SpecstreamEvent } from '../../events/index.js';
import type { EventLog } from '../log/EventLog.js';
import { parseRunConfig, type RunConfig } from './runConfig.js';

/**
 * What a generation worker knows about its run, folded from the run's control events
 * (`RunStarted`, `StepStarted`, `WeightsPublished`, `StepCompleted`), with waits on them.
 *
 * 1. Follows the log (a worker's log reads only the `training` and `weights` topics).
 * 2. Keeps the run config (first `RunStarted`, validated like a config file), each step's
 *    weights version (`StepStarted`), each policy version's checkpoint uri (`WeightsPublished`)
 *    and the completed steps.
 * 3. `waitFor(what, predicate)` resolves once the predicate holds, rejects if the follow fails.
 */
export class RunControl {
  config: RunConfig | undefined;
  runId: string | undefined;
  readonly stepVersion = new Map<number, number>();
  readonly policyUri = new Map<number, string>();
  readonly completedSteps = new Set<number>();
  private readonly subscription: Subscription;
  private failure: unknown;
  private readonly waiters = new Set<() => void>();

  constructor(log: EventLog, where: string) {
    this.subscription = log.follow().subscribe({
      next: ({ event }) => {
        try {
          this.apply(event, where);
        } catch (err) {
          this.failure ??= err;
        }
        for (const w of [...this.waiters]) w();
      },
      error: (err: unknown) => {
        this.failure ??= err;
        for (const w of [...this.waiters]) w();
      },
    });
  }

  private apply(e: SpecstreamEvent, where: string): void {
    switch (e.type) {
      case 'RunStarted':
        if (this.config === undefined) {
          this.config = parseRunConfig(e.data.config, `RunStarted event ${e.id} in ${where}`);
          this.runId = e.runId;
        }
        break;
      case 'StepStarted':
        this.stepVersion.set(e.step, e.data.weightsVersion);
        break;
      case 'WeightsPublished':
        if (e.data.model === 'policy') this.policyUri.set(e.data.weightsVersion, e.data.uri);
        break;
      case 'StepCompleted':
        this.completedSteps.add(e.step);
        break;
      default:
        break;
    }
  }

  /** Whether the run's last step has completed. */
  get runComplete(): boolean {
    return this.config !== undefined && this.completedSteps.has(this.config.steps);
  }

  /**
   * Resolves once `ready()` holds; calls `onSlow` every `slowMs` while it does not (a hint);
   * rejects when the follow failed, or `abort` fires.
   */
  waitFor(ready: () => boolean, onSlow?: (waitedMs: number) => void, slowMs = 10_000, abort?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        if (this.failure !== undefined) finish(this.failure);
        else if (abort?.aborted) finish(new Error('stopped'));
        else if (ready()) finish();
      };
      const finish = (err?: unknown) => {
        this.waiters.delete(check);
        if (timer) clearInterval(timer);
        abort?.removeEventListener('abort', check);
        if (err === undefined) resolve();
        else reject(err);
      };
      this.waiters.add(check);
      abort?.addEventListener('abort', check);
      if (onSlow) timer = setInterval(() => onSlow(Date.now() - t0), slowMs);
      check();
    });
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}
