import { fork } from 'node:child_process';
import cluster from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The baseline: a bare node:http cluster answering the same JSON the actorrt route answers.
 * Usage: node bare-cluster.js <workers> [hello | sqlite <file> | proxy <origin> | redis <url> <key> | hop | hop-coalesced]; prints "listening
 * <port>" once every worker listens. `redis` answers each GET with the body stored at <key> (one GET per request on
 * a node-redis connection per worker: the floor for a cache hit served from Redis). `sqlite` answers GET /items/:id from the file, as the actorrt
 * route does; `proxy` forwards GET requests to <origin> with undici (the floor for a node proxy);
 * `hop` sends every request as one NDJSON line over a Unix socket to a separate process that builds
 * the reply (the floor for any cross-process hop: no ids beyond a counter, no timeouts, no supervision);
 * `hop-coalesced` is the same hop with both sides writing what one event-loop turn produced in one
 * write (the floor a cross-process hop can reach in node).
 */
const workers = Number(process.argv[2] ?? 2);
const requested = process.argv[3] ?? 'hello';
const coalesce = requested === 'hop-coalesced' || process.env['BARE_HOP_COALESCE'] === '1';
const mode = requested === 'hop-coalesced' ? 'hop' : requested;

if (mode === 'hop-process') {
  // The other end of `hop`: answer each line with the greeting, one write per reply.
  let greeted = 0;
  createNetServer((socket) => {
    const send = writer(socket);
    onLines(socket, (line) => {
      const { id, name } = JSON.parse(line) as { id: number; name: string };
      send(`${JSON.stringify({ id, body: { hello: name, actor: 0, greeted: ++greeted } })}\n`);
    });
  }).listen(process.argv[4] as string, () => process.send?.('ready'));
} else if (cluster.isPrimary) {
  // The same scheduling policy actorrt uses, so the comparison measures actorrt, not the policy.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let ready = 0;
  let port = 0;
  const env: Record<string, string> = {};
  let hopProcess: ReturnType<typeof fork> | undefined;
  if (coalesce) env['BARE_HOP_COALESCE'] = '1';
  const started = mode === 'hop' ? startHopProcess(env).then((child) => { hopProcess = child; }) : Promise.resolve();
  void started.then(() => {
    for (let i = 0; i < workers; i++) {
      cluster.fork(env).on('message', (msg: { port: number }) => {
        port = msg.port;
        if (++ready === workers) process.stdout.write(`listening ${port}\n`);
      });
    }
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    hopProcess?.kill();
    if (env['BARE_HOP_SOCKET'] !== undefined) rmSync(dirname(env['BARE_HOP_SOCKET']), { recursive: true, force: true });
    process.exit(0);
  });
} else if (mode === 'proxy') {
  // The least a node proxy can do: undici Pool.stream straight into the response, no header work.
  // Imported by the modes that use them only: a bare worker's start-up is node's and node:http's (bench/cold-start.ts).
  const { Pool } = await import('undici');
  const pool = new Pool(process.argv[4] as string, { connections: 64 });
  const server = createServer((req, res) => {
    pool.stream({ path: req.url ?? '/', method: 'GET', headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' }, opaque: res },
      ({ statusCode, headers, opaque }) => opaque.writeHead(statusCode, headers as Record<string, string>))
      .catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else if (mode === 'hop') {
  const pending = new Map<number, (reply: unknown) => void>();
  const socket = connect(process.env['BARE_HOP_SOCKET'] as string);
  const send = writer(socket);
  let nextId = 0;
  onLines(socket, (line) => {
    const { id, body } = JSON.parse(line) as { id: number; body: unknown };
    pending.get(id)?.(body);
    pending.delete(id);
  });
  let served = 0;
  const server = createServer((req, res) => {
    const id = nextId++;
    pending.set(id, (reply) => {
      const body = JSON.stringify(reply);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': `bare-${++served}` });
      res.end(body);
    });
    send(`${JSON.stringify({ id, name: (req.url ?? '/').split('/')[2] ?? 'world' })}\n`);
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
} else if (mode === 'redis') {
  // What a Redis cache hit costs at least in node: one GET on the connection's pipeline, the stored body written as it is.
  const { createClient } = await import('@keyv/redis');
  const client = createClient({ url: process.argv[4] as string });
  const key = process.argv[5] as string;
  let served = 0;
  const server = createServer((req, res) => {
    client.get(key).then((body) => {
      if (body === null) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-request-id': `bare-${++served}` });
      res.end(body);
    }, () => res.writeHead(503).end());
  });
  void client.connect().then(() => client.set(key, JSON.stringify({ hello: 'bench', actor: 0, greeted: 1 }), { PX: 600_000 }))
    .then(() => server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port })));
} else if (mode === 'sqlite') {
  // The same query as bench/actors/sqlite-read.mjs, on a connection opened once per worker.
  const { default: Database } = await import('better-sqlite3');
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

/** Fork the process at the other end of `hop` and wait until it listens; workers find it through `env`. */
function startHopProcess(env: Record<string, string>): Promise<ReturnType<typeof fork>> {
  const path = join(mkdtempSync(join(tmpdir(), 'bare-hop-')), 'hop.sock');
  env['BARE_HOP_SOCKET'] = path;
  // Its stdout is not the benchmark's pipe: a leftover child must not keep the benchmark waiting.
  const child = fork(process.argv[1] as string, ['0', 'hop-process', path], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  return new Promise((resolve) => child.once('message', () => resolve(child)));
}

/** One write per line, or (coalescing) one write per event-loop turn with every line it produced. */
function writer(socket: Socket): (line: string) => void {
  if (!coalesce) return (line) => { socket.write(line); };
  let queued: string[] = [];
  const flush = (): void => {
    const lines = queued;
    queued = [];
    socket.write(lines.join(''));
  };
  return (line) => {
    if (queued.push(line) === 1) setImmediate(flush);
  };
}

/** Call `handle` with every complete line the socket reads (the `hop` wire format: NDJSON). */
function onLines(socket: Socket, handle: (line: string) => void): void {
  let rest = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) handle(line);
  });
}
