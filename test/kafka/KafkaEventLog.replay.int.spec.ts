import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEvents, eventSpecArb } from '../../src/events/arbitraries.js';
import { formatStepMetrics, replayLog } from '../../src/streams/replay.js';
import { FileEventLog } from '../../src/streams/log/FileEventLog.js';
import { defaultTopology } from '../../src/streams/log/kafka/topics.js';
import { KafkaEventLog } from '../../src/streams/log/KafkaEventLog.js';
import { disconnectAll, kafkaBrokers, uniqueName } from './helpers.js';

afterEach(disconnectAll);

describe('replay from Kafka', () => {
  it('prints exactly what replaying the same events from a file log prints (table, json, csv; all steps, a step range, one worker)', async () => {
    // 600 seeded events from 3 workers over 4 steps, appended in batches of varying size.
    const events = buildEvents(fc.sample(eventSpecArb(3, 4), { numRuns: 600, seed: 42 }), 3);
    const dir = mkdtempSync(join(tmpdir(), 'specstream-replay-'));
    const file = await FileEventLog.open(dir);
    const topology = defaultTopology(uniqueName('replay'));
    const kafka = new KafkaEventLog({ brokers: [kafkaBrokers()], topology });
    try {
      for (let i = 0, size = 1; i < events.length; i += size, size = (size * 7) % 97 || 1) {
        const batch = events.slice(i, i + size);
        await file.append(batch);
        await kafka.append(batch);
      }
      for (const opts of [{}, { fromStep: 2, toStep: 3 }, { worker: 'w1' }]) {
        const [fromFile, fromKafka] = await Promise.all([replayLog(file, opts), replayLog(kafka, opts)]);
        expect(fromFile.length).toBe(4 - (opts.fromStep ? 2 : 0));
        for (const format of ['table', 'json', 'csv'] as const) {
          expect(formatStepMetrics(fromKafka, format)).toBe(formatStepMetrics(fromFile, format));
        }
      }
    } finally {
      await kafka.close();
      await file.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
