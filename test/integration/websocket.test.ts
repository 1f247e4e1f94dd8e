import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from 'undici';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { eventually, logsWith, within, writeProject } from '../helpers.js';
import { raw, runCli, startInstance, type Instance } from './instance.js';

/** How long one WebSocket step (open, a reply, a close) may take before the test fails naming it. */
const STEP = 10_000;

/** What an upstream saw of one WebSocket connection. */
interface Seen {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Set when the connection closed: the close code the upstream saw (1006 when the TCP connection just ended). */
  closed?: number;
  reason?: string;
}

/** A real WebSocket upstream (ws on node:http, port 0). */
interface Upstream {
  readonly id: string;
  readonly origin: string;
  readonly server: Server;
  readonly seen: Seen[];
  /** Connections whose upgrade `/hang` holds unanswered, and whether the proxy has ended each. */
  readonly hung: Array<{ ended: boolean }>;
  kill(): Promise<void>;
}

/**
 * Paths (after the proxy's rewriting): `/echo...` echoes every message as it came (text as text,
 * binary as binary); `/who` says which upstream answered, then echoes; `/close-me` closes with 4001
 * after the first message; `/refuse` answers 401 without switching; `/hang` never answers; an
 * upgrade to another protocol is answered in plain HTTP/1.1. A plain request (no upgrade) gets 426,
 * as a WebSocket-only server answers it.
 */
async function upstream(id: string): Promise<Upstream> {
  const seen: Seen[] = [];
  const hung: Array<{ ended: boolean }> = [];
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'upgrade' });
    res.end('websocket only');
  });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false) });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = req.url ?? '/';
    if (url.startsWith('/refuse')) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nX-Why: no-token\r\nConnection: close\r\n\r\nno ticket');
      return;
    }
    if (url.startsWith('/hang')) {
      const entry = { ended: false };
      hung.push(entry);
      socket.on('end', () => { entry.ended = true; }).on('close', () => { entry.ended = true; }).resume();
      return;
    }
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      // A server that ignores an upgrade it does not speak answers in HTTP/1.1 (RFC 9110 section 7.8).
      socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nplain http/1');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const entry: Seen = { url, headers: req.headers };
      seen.push(entry);
      ws.on('close', (code, reason) => { entry.closed = code; entry.reason = reason.toString(); });
      ws.on('error', () => {});
      if (url.startsWith('/who')) ws.send(id);
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (url.startsWith('/close-me')) return void ws.close(4001, 'upstream says bye');
        ws.send(data, { binary: isBinary });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    id, server, seen, hung,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    kill: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A WebSocket client. Messages are queued from the start: ws emits the ones that came with the
 * 101 in the same turn as 'open', before a listener added after it would see them.
 */
class Conn {
  readonly ws: WebSocket;
  /** The close code this client sees (1006 when the connection just ended). */
  readonly closed: Promise<number>;
  /** 'open', or 'closed' when the connection ended before it opened. */
  readonly outcome: Promise<'open' | 'closed'>;
  /** The 101 response. */
  readonly upgrade: Promise<IncomingMessage>;
  private readonly queue: Array<{ data: Buffer; binary: boolean }> = [];
  private waiter: (() => void) | undefined;

  constructor(url: string, t: { after(fn: () => unknown): void }, protocols: string[] = [], headers: Record<string, string> = {}) {
    const ws = new WebSocket(url, protocols, { headers });
    this.ws = ws;
    t.after(() => ws.terminate());
    ws.on('error', () => {}); // a failure shows as `outcome` or `closed`
    ws.on('message', (data: RawData, binary: boolean) => {
      this.queue.push({ data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), binary });
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
    this.outcome = new Promise((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('close', () => resolve('closed'));
    });
    this.upgrade = new Promise((resolve) => ws.once('upgrade', resolve));
  }

  /** The next message, failing naming `what` after STEP ms. */
  async next(what: string): Promise<{ data: Buffer; binary: boolean }> {
    const queued = this.queue.shift();
    if (queued !== undefined) return queued;
    await within(what, new Promise<void>((resolve) => { this.waiter = resolve; }), STEP);
    this.waiter = undefined;
    return this.next(what);
  }

  /** The next message as text. */
  async text(what: string): Promise<string> {
    return (await this.next(what)).data.toString();
  }
}

/** A WebSocket client to `url`, open; it is terminated when `t` ends. */
async function open(url: string, t: { after(fn: () => unknown): void }, protocols: string[] = [], headers: Record<string, string> = {}): Promise<Conn> {
  const conn = new Conn(url, t, protocols, headers);
  assert.equal(await within(`WebSocket ${url} opens`, conn.outcome, STEP), 'open', `WebSocket ${url} was closed before it opened`);
  return conn;
}

/** The answer to a WebSocket handshake that was not switched: status, headers, body. */
async function refused(url: string, t: { after(fn: () => unknown): void }): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; closed: Promise<void> }> {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  ws.on('error', () => {});
  const [, res] = await within(`WebSocket ${url} is answered`, once(ws, 'unexpected-response'), STEP) as [unknown, IncomingMessage];
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => { body += chunk; });
  await within('the refusal body', once(res, 'end'), STEP);
  const socketClosed = once(res.socket, 'close').then(() => undefined);
  return { status: res.statusCode ?? 0, headers: res.headers, body, closed: res.socket.destroyed ? Promise.resolve() : socketClosed };
}

function wsUrl(app: Instance, path: string): string {
  return `${app.url.replace(/^http/, 'ws')}${path}`;
}

/** Write raw bytes, collect the answer until the server closes (closed: true) or 8 s pass. */
function rawUpgrade(app: Instance, head: string): Promise<{ text: string; closed: boolean }> {
  return raw(app.url, head, 8000);
}

/** A raw keep-alive connection: write a request, read until the answer is complete (`end` matches what came so far). */
class Session {
  private text = '';
  private constructor(private readonly socket: Socket, readonly closed: Promise<void>) {
    socket.on('data', (d: Buffer) => { this.text += d.toString('latin1'); });
  }

  static async open(app: Instance, t: { after(fn: () => unknown): void }): Promise<Session> {
    const { hostname, port } = new URL(app.url);
    const socket = connect(Number(port), hostname);
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    const closed = once(socket, 'close').then(() => undefined);
    await within('connect', once(socket, 'connect'), STEP);
    return new Session(socket, closed);
  }

  async exchange(request: string, end: RegExp): Promise<string> {
    this.text = '';
    this.socket.write(request);
    return this.until(end);
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  /** What came so far (latin1, byte for byte), once it matches `end`. */
  async until(end: RegExp): Promise<string> {
    await eventually(`an answer matching ${String(end)}`, () => end.test(this.text), STEP, () => this.text);
    return this.text;
  }
}

const HANDSHAKE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

describe('WebSocket through proxy routes', () => {
  let a: Upstream;
  let b: Upstream;
  let lone: Upstream;
  let app: Instance;
  const seenAt = (url: string): Seen | undefined => [...a.seen, ...b.seen].find((s) => s.url === url);

  before(async () => {
    [a, b, lone] = await Promise.all([upstream('a'), upstream('b'), upstream('lone')]);
    app = await startInstance(writeProject(`version: 1
http:
  limits: { keepAliveTimeout: 200ms, headersTimeout: 300ms, requestTimeout: 400ms }
resources:
  chat: { type: http, origins: [${a.origin}, ${b.origin}] }
  lone: { type: http, origins: [${lone.origin}], retries: 0 }
routes:
  - match: { path: /ws/* }
    proxy: chat
    stripPrefix: /ws
  - match: { method: GET, path: /rooms/:room/live }
    proxy: chat
    rewrite: /echo/:room/feed
  - match: { path: /slow/* }
    proxy: chat
    stripPrefix: /slow
    timeout: 300ms
  - match: { path: /lone/* }
    proxy: lone
    stripPrefix: /lone
  - match: { method: GET, path: /pool }
    pool: api
pools:
  api: { actor: ./actors/api.mjs }
`, { 'actors/api.mjs': 'export default { receive: () => ({ from: "pool" }) };\n' }), ['--workers', '1']);
  });
  after(async () => {
    try {
      if (app !== undefined) assert.equal(await app.stop(), 0);
    } finally {
      await Promise.all([a, b, lone].filter((u) => u !== undefined).map((u) => u.kill()));
    }
  });

  test('echoes text and binary messages, a large one, and many both ways, in order', { timeout: 60_000 }, async (t) => {
    const conn = await open(wsUrl(app, '/ws/echo'), t);
    conn.ws.send('hello');
    assert.deepEqual(await conn.next('the text echo'), { data: Buffer.from('hello'), binary: false });
    const bin = Buffer.from([0, 1, 2, 255, 254, 0]);
    conn.ws.send(bin);
    assert.deepEqual(await conn.next('the binary echo'), { data: bin, binary: true });
    const large = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < large.length; i += 4096) large.writeUInt32BE(i, i);
    conn.ws.send(large);
    assert.ok((await conn.next('the 8 MiB echo')).data.equals(large), 'the large message came back intact');
    const count = 2000;
    for (let i = 0; i < count; i++) conn.ws.send(`m${i}`);
    const received: string[] = [];
    for (let i = 0; i < count; i++) received.push(await conn.text(`echo ${i} of ${count}`));
    assert.deepEqual(received, Array.from({ length: count }, (_, i) => `m${i}`));
  });

  test('frames a client sends right after its handshake, before the 101, reach the upstream first and in order', { timeout: 30_000 }, async (t) => {
    const session = await Session.open(app, t);
    // Masked text frames (RFC 6455 section 5.2) with an all-zero mask: the payload goes as it is.
    const frame = (text: string): Buffer => Buffer.concat([Buffer.from([0x81, 0x80 | text.length, 0, 0, 0, 0]), Buffer.from(text)]);
    session.write(Buffer.concat([Buffer.from(`GET /ws/echo/early HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}\r\n`), frame('one')]));
    session.write(frame('two'));
    const answer = await session.until(/two$/);
    assert.match(answer, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(answer, /\r\n\r\n\x81\x03one\x81\x03two$/);
  });

  test('negotiates the subprotocol end to end, forwards the client headers and x-forwarded-*, and tags the 101 with x-request-id', { timeout: 30_000 }, async (t) => {
    const conn = await open(wsUrl(app, '/ws/echo/proto?room=7'), t, ['chat.v1', 'chat.v2'], { 'x-request-id': 'ws-trace-1', authorization: 'Bearer t' });
    const response = await conn.upgrade;
    assert.equal(conn.ws.protocol, 'chat.v2');
    assert.equal(response.headers['x-request-id'], 'ws-trace-1');
    assert.equal(response.headers['sec-websocket-protocol'], 'chat.v2');
    const seen = seenAt('/echo/proto?room=7');
    assert.ok(seen, 'the upstream saw the stripped path with its query');
    assert.equal(seen.headers['x-request-id'], 'ws-trace-1');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], new URL(app.url).host);
    assert.equal(seen.headers.authorization, 'Bearer t');
    assert.equal(seen.headers['sec-websocket-protocol'], 'chat.v1,chat.v2');
    assert.equal(seen.headers.upgrade?.toLowerCase(), 'websocket');
  });

  test('rewrite and stripPrefix apply to the upgrade path', { timeout: 30_000 }, async (t) => {
    const conn = await open(wsUrl(app, '/rooms/lobby%201/live'), t);
    conn.ws.send('x');
    await conn.next('the echo');
    assert.ok(seenAt('/echo/lobby%201/feed'), 'the upstream saw the rewritten path');
  });

  test('connections are balanced across both origins', { timeout: 30_000 }, async (t) => {
    const answered = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const conn = await open(wsUrl(app, '/ws/who'), t);
      answered.add(await conn.text('the upstream id'));
      conn.ws.close();
    }
    assert.deepEqual(answered, new Set(['a', 'b']));
  });

  test('an upstream that refuses the upgrade has its status, headers and body relayed, then the connection closes', { timeout: 30_000 }, async (t) => {
    const answer = await refused(wsUrl(app, '/ws/refuse'), t);
    assert.equal(answer.status, 401);
    assert.equal(answer.headers['x-why'], 'no-token');
    assert.equal(answer.body, 'no ticket');
    assert.ok(answer.headers['x-request-id'] !== undefined);
    await within('the refused connection closes', answer.closed, STEP);
  });

  test('an upgrade on a pool route, an unknown path, a wrong method or with a body gets a JSON error and the connection is closed', { timeout: 30_000 }, async () => {
    const pool = await rawUpgrade(app, `GET /pool HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}\r\n`);
    assert.match(pool.text, /^HTTP\/1\.1 400 /);
    assert.match(pool.text, /"code":"ACTORRT_E_UPGRADE_UNSUPPORTED"/);
    assert.match(pool.text, /"requestId":"[^"]+"/);
    assert.ok(pool.closed, 'the connection is closed after the error');
    const unknown = await rawUpgrade(app, `GET /nowhere HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}\r\n`);
    assert.match(unknown.text, /^HTTP\/1\.1 404 /);
    assert.match(unknown.text, /"code":"ACTORRT_E_NOT_FOUND"/);
    assert.ok(unknown.closed);
    const method = await rawUpgrade(app, `POST /pool HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}\r\n`);
    assert.match(method.text, /^HTTP\/1\.1 405 /);
    assert.ok(method.closed);
    const withBody = await rawUpgrade(app, `POST /ws/echo HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}Content-Length: 5\r\n\r\nhello`);
    assert.match(withBody.text, /^HTTP\/1\.1 400 /);
    assert.match(withBody.text, /"code":"ACTORRT_E_UPGRADE_UNSUPPORTED"/);
    assert.ok(withBody.closed);
    const climbing = await rawUpgrade(app, `GET /ws/../../etc HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}\r\n`);
    assert.match(climbing.text, /^HTTP\/1\.1 400 /);
    assert.match(climbing.text, /"code":"ACTORRT_E_BAD_PATH"/);
    assert.ok(climbing.closed);
  });

  test('an upgrade to another protocol (h2c) on a pool route is served as plain HTTP/1.1, as before; on a proxy route the upstream answers', { timeout: 30_000 }, async () => {
    const h2c = await rawUpgrade(app, 'GET /pool HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
    assert.match(h2c.text, /^HTTP\/1\.1 200 /);
    assert.match(h2c.text, /"from":"pool"/);
    assert.match(h2c.text, /connection: close/i);
    assert.ok(h2c.closed);
    const proxied = await rawUpgrade(app, 'GET /ws/plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
    assert.match(proxied.text, /^HTTP\/1\.1 200 /);
    assert.match(proxied.text, /plain http\/1$/);
    assert.ok(proxied.closed);
  });

  test('the client closing is seen upstream, the upstream closing is seen by the client, an abrupt end too', { timeout: 30_000 }, async (t) => {
    const first = await open(wsUrl(app, '/ws/echo/client-closes'), t);
    first.ws.close(4000, 'client says bye');
    assert.equal(await within('the client side closes', first.closed, STEP), 4000);
    await eventually('the upstream sees the close', () => seenAt('/echo/client-closes')?.closed !== undefined, STEP);
    assert.equal(seenAt('/echo/client-closes')?.closed, 4000);
    assert.equal(seenAt('/echo/client-closes')?.reason, 'client says bye');

    const second = await open(wsUrl(app, '/ws/close-me'), t);
    second.ws.send('bye?');
    assert.equal(await within('the client sees the upstream close', second.closed, STEP), 4001);

    const third = await open(wsUrl(app, '/ws/echo/terminated'), t);
    third.ws.terminate(); // no close frame: the TCP connection just ends
    await eventually('the upstream sees the connection end', () => seenAt('/echo/terminated')?.closed !== undefined, STEP);
    assert.equal(seenAt('/echo/terminated')?.closed, 1006);
  });

  test("an idle tunnel outlives the server's keep-alive, headers and request timeouts", { timeout: 30_000 }, async (t) => {
    const conn = await open(wsUrl(app, '/ws/echo/idle'), t);
    let ended = false;
    void conn.closed.then(() => { ended = true; });
    // Proof the timeouts have passed, without a fixed sleep: the server closes an idle keep-alive
    // connection (keepAliveTimeout) and answers 408 to a request that never finishes (request timeout).
    const client = new Client(app.url);
    t.after(() => client.destroy());
    let disconnected = false;
    client.on('disconnect', () => { disconnected = true; });
    const res = await client.request({ path: '/pool', method: 'GET' });
    await res.body.text();
    const slow = await raw(app.url, 'GET /pool HTTP/1.1\r\nHost: x\r\n', 8000);
    assert.match(slow.text, /^HTTP\/1\.1 408 /);
    await eventually('the idle keep-alive connection is closed by the server', () => disconnected, STEP);
    assert.equal(ended, false, 'the tunnel is still open');
    conn.ws.send('still there?');
    assert.equal(await conn.text('the echo after the idle time'), 'still there?');
  });

  test('a client that leaves during the handshake: the upstream connection is closed too', { timeout: 30_000 }, async (t) => {
    const waiting = new Conn(wsUrl(app, '/ws/hang'), t);
    const upstreamSide = (): { ended: boolean } | undefined => [...a.hung, ...b.hung][0];
    await eventually('the upstream holds the handshake', () => upstreamSide() !== undefined, STEP);
    waiting.ws.terminate();
    await eventually('the upstream connection is closed', () => upstreamSide()?.ended === true, STEP);
  });

  test('an upstream that does not switch in time gives 504; one that dies closes its tunnels, and gives 502 after (the connection closed each time)', { timeout: 30_000 }, async (t) => {
    const slow = await refused(wsUrl(app, '/slow/hang'), t);
    assert.equal(slow.status, 504);
    assert.equal((JSON.parse(slow.body) as { error: { code: string } }).error.code, 'ACTORRT_E_UPSTREAM_TIMEOUT');
    await within('the connection closes', slow.closed, STEP);
    const tunnel = await open(wsUrl(app, '/lone/echo/before-kill'), t);
    await lone.kill();
    assert.equal(await within('a tunnel to the killed upstream closes', tunnel.closed, STEP), 1006);
    const dead = await refused(wsUrl(app, '/lone/echo'), t);
    assert.equal(dead.status, 502);
    assert.equal((JSON.parse(dead.body) as { error: { code: string } }).error.code, 'ACTORRT_E_UPSTREAM_UNAVAILABLE');
    await within('the connection closes', dead.closed, STEP);
  });
});

/** A topology with one front worker proxying /ws/* to `origin`, plus `http` settings. */
function oneWorker(origin: string, http: string): string {
  return writeProject(`version: 1
http: ${http}
resources:
  echo: { type: http, origins: [${origin}] }
routes:
  - match: { path: /ws/* }
    proxy: echo
    stripPrefix: /ws
`);
}

test('maxConnections counts open tunnels: past it a connection is refused, and a closed tunnel frees its slot', { timeout: 60_000 }, async (t) => {
  const echo = await upstream('echo');
  t.after(() => echo.kill());
  const app = await startInstance(oneWorker(echo.origin, '{ limits: { maxConnections: 2 } }'), ['--workers', '1'], t);
  const first = await open(wsUrl(app, '/ws/echo/1'), t);
  await open(wsUrl(app, '/ws/echo/2'), t);
  const third = new Conn(wsUrl(app, '/ws/echo/3'), t);
  assert.equal(await within('the third connection is answered', third.outcome, STEP), 'closed', 'a third connection is not served while two tunnels are open');
  first.ws.close();
  await within('the first tunnel closes', first.closed, STEP);
  await eventually('a new tunnel opens once a slot is free', async () => await new Conn(wsUrl(app, '/ws/echo/4'), t).outcome === 'open', STEP);
  assert.equal(await app.stop(), 0);
});

test('actorrt stop with an open tunnel: it keeps working while the worker drains, then is closed and the stop completes', { timeout: 60_000 }, async (t) => {
  const echo = await upstream('echo');
  t.after(() => echo.kill());
  const app = await startInstance(oneWorker(echo.origin, '{ shutdownTimeout: 1500ms }'), ['--workers', '1'], t);
  const conn = await open(wsUrl(app, '/ws/echo/stop'), t);
  const stop = runCli(['stop', '--pid-file', app.pidFile], 30_000);
  await eventually('the instance is stopping', () => logsWith(app.stderr(), { msg: 'shutting down' }).length > 0, STEP);
  conn.ws.send('during the drain');
  assert.equal(await conn.text('an echo during the drain'), 'during the drain');
  assert.equal(await within('the client sees the tunnel close', conn.closed, STEP), 1006);
  const stopped = await within('actorrt stop', stop, 30_000);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(await within('the instance exits', app.exited, STEP), 0);
  assert.equal(logsWith(app.stderr(), { msg: /tunnels\) still open at the drain deadline/, connections: 1 }).length, 1);
  await eventually('the upstream sees the tunnel end', () => echo.seen.find((s) => s.url === '/echo/stop')?.closed !== undefined, STEP);
});

test('a roll keeps an open tunnel working until the old worker is drained; new upgrades go to the new worker', { timeout: 90_000 }, async (t) => {
  const echo = await upstream('echo');
  t.after(() => echo.kill());
  const app = await startInstance(oneWorker(echo.origin, '{ shutdownTimeout: 3s, limits: { keepAliveTimeout: 60s } }'), ['--workers', '1'], t);
  const old = await open(wsUrl(app, '/ws/echo/before'), t);
  // A keep-alive connection the old worker holds: an upgrade sent on it while it drains is refused, so the client comes back to a new worker.
  const kept = await Session.open(app, t);
  assert.match(await kept.exchange('GET /ws/plain HTTP/1.1\r\nHost: x\r\n\r\n', /\r\n0\r\n\r\n$/), /^HTTP\/1\.1 426 [^]*keep-alive/i);
  const roll = await runCli(['reload', '--roll', '--pid-file', app.pidFile], 60_000);
  assert.equal(roll.code, 0, roll.stderr);
  assert.match(roll.stdout, /front workers: roll 1/);
  old.ws.send('after the roll');
  assert.equal(await old.text('an echo on the old worker after the roll'), 'after the roll');
  const late = await kept.exchange(`GET /ws/echo/late HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}\r\n`, /\}\}$/);
  assert.match(late, /^HTTP\/1\.1 503 /);
  assert.match(late, /retry-after: 1/i);
  assert.match(late, /"code":"ACTORRT_E_NOT_READY"/);
  await within('the refused connection closes', kept.closed, STEP);
  const fresh = await open(wsUrl(app, '/ws/echo/after'), t);
  let freshEnded = false;
  void fresh.closed.then(() => { freshEnded = true; });
  assert.equal(await within('the old worker closes its tunnel at its drain deadline', old.closed, 30_000), 1006);
  assert.equal(freshEnded, false, 'the tunnel opened after the roll is on the new worker');
  fresh.ws.send('new worker');
  assert.equal(await fresh.text('an echo on the new worker'), 'new worker');
  fresh.ws.close();
  await within('the new tunnel closes', fresh.closed, STEP);
  assert.equal(await app.stop(), 0);
});
