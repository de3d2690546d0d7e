import { afterEach } from 'vitest';
import { defaultTopology } from '../../src/streams/log/kafka/topics.js';
import { KafkaEventLog } from '../../src/streams/log/KafkaEventLog.js';
import { describeEventLogContract } from '../../src/streams/log/eventLogContract.js';
import { disconnectAll, kafkaBrokers, uniqueName } from './helpers.js';

afterEach(disconnectAll);

// A fresh, empty log per test: its own topic prefix on the shared test broker. Three partitions
// per topic, so order across partitions (the merge by event id) is really exercised.
describeEventLogContract(
  'KafkaEventLog',
  async () => {
    const topology = defaultTopology(uniqueName('contract'));
    topology.partitions = { requests: 3, 'rollout-events': 3, results: 3, training: 2, weights: 1 };
    const log = new KafkaEventLog({ brokers: [kafkaBrokers()], topology, liveReorderMs: 100 });
    await log.connect();
    return { log, cleanup: async () => {} };
  },
  { totalOrder: false, followTimeoutMs: 20_000 },
);
