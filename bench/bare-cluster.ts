import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The baseline: a bare node:http cluster answering the same JSON the actorrt route answers.
 * Usage: node bare-cluster.js <workers>; prints "listening <port>" once every worker listens.
 */
const workers = Number(process.argv[2] ?? 2);

if (cluster.isPrimary) {
  // The same scheduling policy actorrt uses, so the comparison measures actorrt, not the policy.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let ready = 0;
  let port = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (msg: { port: number }) => {
      port = msg.port;
      if (++ready === workers) process.stdout.write(`listening ${port}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  let greeted = 0;
  const server = createServer((req, res) => {
    greeted++;
    const name = (req.url ?? '/').split('/')[2] ?? 'world';
    const body = JSON.stringify({ hello: name, actor: 0, greeted });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': `bare-${greeted}` });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
}
