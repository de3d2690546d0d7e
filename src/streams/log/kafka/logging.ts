import { logLevel, type logCreator } from 'kafkajs';

/**
 * A kafkajs log creator for specstream: one line per entry on stderr, at `level` and above.
 * kafkajs logs every retriable protocol error (`[Connection] Response …: The coordinator is
 * loading`, leader changes during a broker restart) at ERROR before retrying it; those lines are
 * dropped because a failure that survives the retries reaches the caller as a thrown error.
 */
export function specstreamLogCreator(level: logLevel = logLevel.ERROR): logCreator {
  return () =>
    ({ namespace, level: entryLevel, log }) => {
      if (entryLevel > level || entryLevel === logLevel.NOTHING) return;
      const { message, ...extra } = log as { message: string; [k: string]: unknown };
      if (namespace === 'Connection' && message.startsWith('Response ')) return;
      if (extra['retryCount'] !== undefined || extra['retryTime'] !== undefined) return;
      const name = logLevel[entryLevel] ?? String(entryLevel);
      const detail = extra['error'] ? `: ${String(extra['error'])}` : '';
      process.stderr.write(`[kafkajs ${name}] ${namespace} ${message}${detail}\n`);
    };
}
