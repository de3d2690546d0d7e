// Prints `count` distinct free TCP ports on 127.0.0.1 (asked of the kernel: listen on port 0).
// usage: node freeport.mjs <count>
import { createServer } from 'node:net';

const count = Number(process.argv[2] ?? 1);
const servers = [];
const ports = [];
for (let i = 0; i < count; i++) {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  servers.push(server);
  ports.push(server.address().port);
}
await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
console.log(ports.join(' '));
