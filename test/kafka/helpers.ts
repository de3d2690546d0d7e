import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import { inject } from 'vitest';
import { specstreamLogCreator } from '../../src/streams/log/kafka/logging.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap address of the test broker (test/globalSetup.ts). */
    kafkaBrokers: string;
  }
}

/**
 * Test helpers for the real broker (after kafkajs' own test helpers): the broker address,
 * unique names, raw clients that are all disconnected after each test, waiting for N messages
 * and for a consumer group to join.
 */

/** The bootstrap address of the test broker (started by test/globalSetup.ts). */
export function kafkaBrokers(): string {
  const b = process.env['SPECSTREAM_KAFKA_BROKERS'] ?? inject('kafkaBrokers');
  if (!b) {
    throw new Error(
      'no Kafka broker for this test: test/globalSetup.ts starts one when a Kafka test file is selected; ' +
        'or set SPECSTREAM_KAFKA_BROKERS=host:port (npm run kafka:start prints it)',
    );
  }
  return b;
}

/** A name no other test (or earlier run against the same broker) uses: `<base>-<uuid>`. */
export function uniqueName(base = 'test'): string {
  return `${base}-${randomUUID()}`;
}

const clients = new Set<{ disconnect(): Promise<void> }>();

/** A raw kafkajs client on the test broker (quiet: ERROR only). */
export function rawKafka(clientId = 'specstream-test'): Kafka {
  return new Kafka({ clientId, brokers: [kafkaBrokers()], logCreator: specstreamLogCreator(logLevel.ERROR) });
}

/** Tracks a client so `disconnectAll` (call it in afterEach) disconnects it. */
export function track<T extends Producer | Consumer | Admin>(client: T): T {
  clients.add(client);
  return client;
}

/** Disconnects every tracked client; for `afterEach`. */
export async function disconnectAll(): Promise<void> {
  const all = [...clients];
  clients.clear();
  await Promise.all(all.map((c) => c.disconnect().catch(() => undefined)));
}

/** Resolves once `predicate` holds, polling every 20 ms; rejects naming `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Consumes `topic` from the beginning with a fresh group until `n` messages arrived; returns
 * them (with their partition) in arrival order. Rejects after `timeoutMs` naming how many came.
 */
export async function waitForMessages(
  topic: string,
  n: number,
  timeoutMs = 15_000,
): Promise<Array<{ partition: number; message: KafkaMessage }>> {
  const consumer = track(rawKafka().consumer({ groupId: uniqueName('wait'), maxWaitTimeInMs: 100 }));
  const got: Array<{ partition: number; message: KafkaMessage }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ partition, message }) => void got.push({ partition, message }) });
  try {
    await waitFor(() => got.length >= n, `${n} messages on ${topic} (got ${got.length})`, timeoutMs);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

/** Resolves when `consumer` has joined its group (GROUP_JOIN), with its member assignment. */
export function waitForConsumerToJoinGroup(consumer: Consumer, timeoutMs = 15_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer did not join its group within ${timeoutMs} ms`)), timeoutMs);
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      clearTimeout(timer);
      resolve(event.payload);
    });
  });
}
