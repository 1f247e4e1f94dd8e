import cluster from 'node:cluster';
import Fastify from 'fastify';

/**
 * The peer a user would pick instead: fastify in node:cluster mode, answering GET /hello/:name
 * with the same JSON and headers as the bare cluster and the actorrt route (logger off, as in
 * fastify's own benchmarks). Usage: node fastify-cluster.js <workers>; prints "listening <port>".
 */
const workers = Number(process.argv[2] ?? 2);

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE; // as actorrt and the bare cluster
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (msg: { port: number }) => {
      if (++ready === workers) process.stdout.write(`listening ${msg.port}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const app = Fastify({ logger: false });
  let greeted = 0;
  app.get<{ Params: { name: string } }>('/hello/:name', async (req, reply) => {
    greeted++;
    void reply.header('x-request-id', `fastify-${greeted}`);
    return { hello: req.params.name, actor: 0, greeted };
  });
  // Port 0 in a cluster worker: the primary binds once and shares the handle, so every worker gets the same port.
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ port: Number(new URL(address).port) });
}
