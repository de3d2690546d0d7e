import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom, toArray } from 'rxjs';
import { contractEvents } from '../../src/streams/log/eventLogContract.js';
import { readDeadLetter } from '../../src/streams/log/kafka/deadLetter.js';
import { defaultTopology, topicName } from '../../src/streams/log/kafka/topics.js';
import { KafkaEventLog } from '../../src/streams/log/KafkaEventLog.js';
import { disconnectAll, kafkaBrokers, rawKafka, track, uniqueName, waitForMessages } from './helpers.js';

afterEach(disconnectAll);

describe('KafkaEventLog dead-letter topic', () => {
  it('sends malformed and schema-invalid records to the dead-letter topic with error and origin, and reads on', async () => {
    const topology = defaultTopology(uniqueName('dlq'));
    topology.partitions = { requests: 1, 'rollout-events': 1, results: 1, training: 1, weights: 1 };
    const deadLettered: string[] = [];
    const log = new KafkaEventLog({
      brokers: [kafkaBrokers()],
      topology,
      onDeadLetter: (d) => deadLettered.push(`${d.topic}/${d.partition}/${d.offset}`),
    });
    try {
      const good = contractEvents(6, 21);
      await log.append(good.slice(0, 3));
      // Garbage from a raw producer, between good events, on the log's own topics.
      const training = topicName(topology, 'training');
      const rollout = topicName(topology, 'rollout-events');
      const producer = track(rawKafka().producer());
      await producer.connect();
      const validButWrong = { ...good[0]!, id: 'bad-accepted', data: { ...(good[0]!.data as object), accepted: 9 } };
      const sent = await producer.sendBatch({
        topicMessages: [
          { topic: training, messages: [{ key: 'x', value: '{not json' }, { key: 'y', value: null }] },
          { topic: rollout, messages: [{ key: 'z', value: JSON.stringify(validButWrong) }] },
        ],
      });
      await log.append(good.slice(3));

      const got = await firstValueFrom(log.read().pipe(toArray()));
      // Consumption went on past every bad record: all good events, and nothing else.
      expect(got.map((p) => p.event.id).sort()).toEqual(good.map((e) => e.id).sort());

      const dead = await waitForMessages(log.deadLetterTopic, 3);
      const infos = dead.map((d) => ({ ...readDeadLetter(d.message.headers), value: d.message.value?.toString() ?? null }));
      const at = (topic: string) => sent.find((s) => s.topicName === topic)!.baseOffset!;
      const byOrigin = new Map(infos.map((i) => [`${i.topic}/${i.partition}/${i.offset}`, i]));
      const json = byOrigin.get(`${training}/0/${at(training)}`);
      expect(json?.value).toBe('{not json');
      expect(json?.error).toMatch(/invalid JSON/);
      expect(json?.error).toContain(`topic ${training} partition 0 offset ${at(training)}`);
      const empty = byOrigin.get(`${training}/0/${BigInt(at(training)) + 1n}`);
      expect(empty?.error).toMatch(/no value/);
      const schema = byOrigin.get(`${rollout}/0/${at(rollout)}`);
      expect(schema?.value).toBe(JSON.stringify(validButWrong));
      expect(schema?.error).toContain('bad-accepted');
      expect(schema?.error).toContain('data.accepted');
      expect(deadLettered.sort()).toEqual([...byOrigin.keys()].sort());
    } finally {
      await log.close();
    }
  });
});
