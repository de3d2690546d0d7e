import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalBroker, stopLocalBroker } from '../src/streams/log/kafka/localBroker.js';

/** A test file needs the broker when its path names Kafka (`KafkaEventLog.int.spec.ts`, `test/kafka/…`). */
const kafkaSpec = /kafka/i;

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

/** Whether this run selected any Kafka test file (when unsure: yes). */
async function kafkaSelected(project: TestProject): Promise<boolean> {
  try {
    // The CLI's file filters (`vitest run src/foo`): not in vitest's public types, hence the cast.
    const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern ?? [];
    const specs = await project.vitest.globTestSpecifications(filters);
    return specs.some((s) => kafkaSpec.test(s.moduleId));
  } catch {
    return true;
  }
}

/**
 * Global setup of the test run: starts one real Kafka broker (infra/kafka/start.sh) when Kafka
 * tests are selected, and stops it when the run ends — passed or failed.
 *
 * 1. `SPECSTREAM_KAFKA_BROKERS` already set (a developer's `npm run kafka:start`, another
 *    run's broker): use it, start nothing.
 * 2. Otherwise start a broker in a fresh temp state dir, owned by this process (it stops by
 *    itself if the run is killed), and export its address as `SPECSTREAM_KAFKA_BROKERS` and
 *    `inject('kafkaBrokers')`.
 * 3. Teardown stops it and deletes its data; its logs stay in the state dir only on failure to start.
 */
export default async function setup(project: TestProject): Promise<void | (() => Promise<void>)> {
  const given = process.env['SPECSTREAM_KAFKA_BROKERS'];
  if (given) {
    project.provide('kafkaBrokers', given);
    return undefined;
  }
  if (!(await kafkaSelected(project))) return undefined;
  const stateDir = mkdtempSync(join(tmpdir(), 'specstream-kafka-test-'));
  const started = Date.now();
  const broker = await startLocalBroker(stateDir, process.pid);
  process.stderr.write(`[kafka] test broker ${broker.brokers} ready in ${Date.now() - started} ms (logs: ${stateDir}/logs)\n`);
  process.env['SPECSTREAM_KAFKA_BROKERS'] = broker.brokers;
  project.provide('kafkaBrokers', broker.brokers);
  return async () => {
    await stopLocalBroker(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
    delete process.env['SPECSTREAM_KAFKA_BROKERS'];
  };
}
