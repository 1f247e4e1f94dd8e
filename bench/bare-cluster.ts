import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { Pool } from 'undici';

/**
 * The baseline: a bare node:http cluster answering the same JSON the actorrt route answers.
 * Usage: node bare-cluster.js <workers> [hello | sqlite <file> | proxy <origin>]; prints "listening
 * <port>" once every worker listens. `sqlite` answers GET /items/:id from the file, as the actorrt
 * route does; `proxy` forwards GET requests to <origin> with undici (the floor for a node proxy).
 */
const workers = Number(process.argv[2] ?? 2);
const mode = process.argv[3] ?? 'hello';

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
} else if (mode === 'proxy') {
  // The least a node proxy can do: undici Pool.stream straight into the response, no header work.
  const pool = new Pool(process.argv[4] as string, { connections: 64 });
  const server = createServer((req, res) => {
    pool.stream({ path: req.url ?? '/', method: 'GET', headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' }, opaque: res },
      ({ statusCode, headers, opaque }) => opaque.writeHead(statusCode, headers as Record<string, string>))
      .catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else if (mode === 'sqlite') {
  // The same query as bench/actors/sqlite-read.mjs, on a connection opened once per worker.
  const db = new Database(process.argv[4] as string, { readonly: true });
  const byId = db.prepare('SELECT id, name, price, stock FROM items WHERE id = ?');
  let served = 0;
  const server = createServer((req, res) => {
    served++;
    const row = byId.get(Number((req.url ?? '/').split('/')[2]));
    const body = JSON.stringify(row ?? { error: 'not found' });
    res.writeHead(row === undefined ? 404 : 200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': `bare-${served}` });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
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
