// Waits until a broker serves requests: a kafkajs admin connects and lists topics.
// usage: node wait.mjs <host:port> <broker pid> <timeout seconds>
// Exits 0 when ready; 1 when the broker process died or the timeout passed (the caller prints logs).
import { Kafka, logLevel } from 'kafkajs';

const [brokers, pidArg, timeoutArg] = process.argv.slice(2);
const pid = Number(pidArg);
const deadline = Date.now() + Number(timeoutArg ?? 120) * 1000;
const kafka = new Kafka({
  clientId: 'specstream-wait',
  brokers: [brokers],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 3000,
  retry: { retries: 0 },
});

function alive() {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let lastError = 'no attempt yet';
while (Date.now() < deadline) {
  if (!alive()) {
    console.error(`[kafka] broker process ${pid} exited before serving requests`);
    process.exit(1);
  }
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    await admin.disconnect();
    process.exit(0);
  } catch (err) {
    lastError = err instanceof Error ? err.message : String(err);
    await admin.disconnect().catch(() => undefined);
  }
  await new Promise((r) => setTimeout(r, 500));
}
console.error(`[kafka] broker at ${brokers} did not serve requests within ${timeoutArg}s; last error: ${lastError}`);
process.exit(1);
