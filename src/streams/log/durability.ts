import type { FileHandle } from 'node:fs/promises';

/**
 * When appended bytes are forced to disk (fdatasync):
 * - `'batch'`: before each `append` resolves (nothing acknowledged is lost on power failure;
 *   one sync per batch),
 * - `{ intervalMs }`: at most every `intervalMs` while there are unsynced bytes (a power
 *   failure loses at most that window; a killed process loses nothing, the bytes are in the
 *   OS page cache once `append` resolves),
 * - `'never'`: left to the OS.
 * Default: `{ intervalMs: 100 }` (DEFAULT_DURABILITY).
 */
export type Durability = 'batch' | 'never' | Readonly<{ intervalMs: number }>;

export const DEFAULT_DURABILITY: Durability = { intervalMs: 100 };

/** Parses `batch`, `never` or `<N>ms` (as the CLI and config spell it); throws naming the value. */
export function parseDurability(text: string): Durability {
  if (text === 'batch' || text === 'never') return text;
  const m = /^(\d+)ms$/.exec(text);
  if (m && Number(m[1]) > 0) return { intervalMs: Number(m[1]) };
  throw new Error(`durability must be "batch", "never" or "<N>ms" with N > 0, received ${JSON.stringify(text)}`);
}

/**
 * Applies a durability policy to the file handle being appended to. Owned by one FileEventLog;
 * the timer is unref'd so it never keeps the process alive.
 */
export class Syncer {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private failure: unknown;

  constructor(
    private readonly policy: Durability,
    private handle: () => FileHandle | undefined,
  ) {
    if (typeof policy === 'object') {
      this.timer = setInterval(() => {
        if (!this.dirty) return;
        this.dirty = false;
        // An fsync failure is kept and thrown from the next append or close (never swallowed).
        this.handle()?.datasync().catch((err: unknown) => (this.failure = err));
      }, policy.intervalMs);
      this.timer.unref();
    }
  }

  /** Called after each batch write; resolves when the batch is as durable as the policy asks. */
  async afterWrite(): Promise<void> {
    this.throwIfFailed();
    if (this.policy === 'batch') await this.handle()?.datasync();
    else if (this.policy !== 'never') this.dirty = true;
  }

  /** Syncs what is pending (before a segment is closed or the log shut), unless policy is never. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.policy !== 'never') await this.handle()?.datasync();
    this.dirty = false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw new Error(`an earlier background fsync of the event log failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
