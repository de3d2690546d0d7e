import { FileEventLog } from '../streams/log/FileEventLog.js';
import { KafkaEventLog } from '../streams/log/KafkaEventLog.js';
import { defaultTopology } from '../streams/log/kafka/topics.js';
import type { EventLog } from '../streams/log/EventLog.js';

/**
 * Opens a log for reading: a file log directory (read-only: no lock, a torn tail is reported and
 * skipped), or `kafka://brokers/prefix` — the topics `<prefix>.*` a run wrote (`specstream train`
 * with a Kafka log uses `<topicPrefix>.<runId>`).
 */
export async function openLogForReading(where: string): Promise<EventLog> {
  const m = /^kafka:\/\/([^/]+)\/(.+)$/.exec(where);
  if (where.startsWith('kafka:') && !m) throw new Error(`expected kafka://host:port[,host:port…]/<topic prefix>, received "${where}"`);
  if (m) return new KafkaEventLog({ brokers: m[1]!.split(','), topology: defaultTopology(m[2]!) });
  return FileEventLog.open(where, {
    readOnly: true,
    onWarning: (msg) => process.stderr.write(`specstream: warning: ${msg}\n`),
  });
}

