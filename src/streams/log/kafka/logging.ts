import { logLevel, type logCreator } from 'kafkajs';

const levelNames: Record<number, string> = {
  [logLevel.ERROR]: 'ERROR',
  [logLevel.WARN]: 'WARN',
  [logLevel.INFO]: 'INFO',
  [logLevel.DEBUG]: 'DEBUG',
};

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
      // Connection-level failures (refused, closed, protocol errors) are retried by the caller's
      // retry policy; if retries run out, the caller gets the error.
      if (namespace === 'Connection') return;
      if (extra['retryCount'] !== undefined || extra['retryTime'] !== undefined) return;
      const name = levelNames[entryLevel] ?? String(entryLevel);
      const detail = extra['error'] ? `: ${String(extra['error'])}` : '';
      process.stderr.write(`[kafkajs ${name}] ${namespace} ${message}${detail}\n`);
    };
}
