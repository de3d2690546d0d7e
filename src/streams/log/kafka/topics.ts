import type { EventType, SpecstreamEvent } from '../../../events/index.js';

/** The roles of the log's topics; each role is one Kafka topic `<prefix>.<role>`. */
export type TopicRole = 'requests' | 'rollout-events' | 'results' | 'training' | 'weights';
export const topicRoles: readonly TopicRole[] = ['requests', 'rollout-events', 'results', 'training', 'weights'];

/**
 * Which topic each event type goes to, and what it is keyed by. The key decides the partition
 * (murmur2, as in the Java client), and Kafka keeps order only within a partition, so:
 * - requests are keyed by prompt, so the whole GRPO group of a prompt lands on one partition
 *   (one generation worker of a consumer group gets all samples of a prompt);
 * - a sequence's rollout events (its verification rounds, then its completion) are keyed by
 *   `requestId`, so they stay in order;
 * - results (rewards, advantages) are keyed by prompt, next to the rest of their group;
 * - run/step/optimiser events are keyed by run: one ordered stream per run;
 * - weight versions are keyed by run and model, so versions of a model stay in order.
 */
export const routing: Readonly<Record<EventType, { role: TopicRole; key: (e: SpecstreamEvent) => string }>> = {
  RolloutRequested: { role: 'requests', key: (e) => (e as Extract<SpecstreamEvent, { type: 'RolloutRequested' }>).data.promptId },
  DraftVerified: { role: 'rollout-events', key: (e) => (e as Extract<SpecstreamEvent, { type: 'DraftVerified' }>).data.requestId },
  RolloutCompleted: { role: 'rollout-events', key: (e) => (e as Extract<SpecstreamEvent, { type: 'RolloutCompleted' }>).data.requestId },
  RewardAssigned: { role: 'results', key: (e) => (e as Extract<SpecstreamEvent, { type: 'RewardAssigned' }>).data.promptId },
  AdvantagesComputed: { role: 'results', key: (e) => (e as Extract<SpecstreamEvent, { type: 'AdvantagesComputed' }>).data.promptId },
  RunStarted: { role: 'training', key: (e) => e.runId },
  StepStarted: { role: 'training', key: (e) => e.runId },
  StepCompleted: { role: 'training', key: (e) => e.runId },
  PolicyUpdated: { role: 'training', key: (e) => e.runId },
  WeightsPublished: {
    role: 'weights',
    key: (e) => `${e.runId}:${(e as Extract<SpecstreamEvent, { type: 'WeightsPublished' }>).data.model}`,
  },
};

export interface KafkaTopology {
  /** Topic name prefix: topics are `<prefix>.<role>` and `<prefix>.dead-letter`. */
  prefix: string;
  /** Partitions of each topic when the log creates it (existing topics are left as they are). */
  partitions: Readonly<Record<TopicRole, number>>;
  /** Replication factor of created topics (1 on the dev/CI broker, 3 in production). */
  replicationFactor: number;
}

/** Defaults: many partitions where work is spread (requests, rollout events), one where order matters most. */
export function defaultTopology(prefix = 'specstream', replicationFactor = 1): KafkaTopology {
  return {
    prefix,
    partitions: { requests: 6, 'rollout-events': 6, results: 3, training: 1, weights: 1 },
    replicationFactor,
  };
}

/** The topic of a role under a topology. */
export function topicName(topology: KafkaTopology, role: TopicRole): string {
  return `${topology.prefix}.${role}`;
}

/** The dead-letter topic of a topology: records no reader could decode, with why and where from. */
export function deadLetterTopic(topology: KafkaTopology): string {
  return `${topology.prefix}.dead-letter`;
}

/** Topic and key of one event. Throws for an unknown type (the codec validated it already). */
export function route(topology: KafkaTopology, event: SpecstreamEvent): { topic: string; key: string } {
  const r = routing[event.type];
  if (!r) throw new Error(`KafkaEventLog: no topic for event type "${String(event.type)}" (event ${event.id})`);
  return { topic: topicName(topology, r.role), key: r.key(event) };
}
