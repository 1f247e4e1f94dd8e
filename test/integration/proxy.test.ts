import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { after, before, describe, test } from 'node:test';
import { eventually, logsWith, writeProject } from '../helpers.js';
import { call, errorOf, raw, resourceStatus, startInstance, type Instance } from './instance.js';

/** What an upstream saw of a request. */
interface Seen {
  origin: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  sha256: string;
}

/**
 * A real node:http upstream on port 0 that echoes what it received; `/slow` and `/hold` never
 * answer (until the server is killed; `cut` counts the `/hold` requests whose connection closed),
 * `/half` breaks its connection after 10 bytes of a 100000-byte body, `/fail` answers 500.
 */
async function upstream(id: string): Promise<{ server: Server; origin: string; hits: Map<string, number>; cut: { count: number } }> {
  const hits = new Map<string, number>();
  const cut = { count: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/health') return void res.end('ok');
    if (path === '/slow') return; // held until kill() closes the connection
    if (path === '/hold') return void req.socket.once('close', () => cut.count++);
    if (path === '/half') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
      return void res.write('0123456789', () => res.socket?.destroy());
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => { bytes += chunk.length; hash.update(chunk); });
    req.on('end', () => {
      const seen: Seen = { origin: id, method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes, sha256: hash.digest('hex') };
      const body = JSON.stringify(seen);
      res.writeHead(path === '/fail' ? 500 : 200, {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        'x-upstream': id, 'keep-alive': 'timeout=77', connection: 'keep-alive, x-hop', 'x-hop': 'must not pass',
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, cut };
}

function kill(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('proxy routes', () => {
  let a: Awaited<ReturnType<typeof upstream>>;
  let b: Awaited<ReturnType<typeof upstream>>;
  let lone: Awaited<ReturnType<typeof upstream>>;
  let app: Instance;

  before(async () => {
    [a, b, lone] = await Promise.all([upstream('a'), upstream('b'), upstream('lone')]);
    app = await startInstance(writeProject(`version: 1
http:
  limits: { bodyBytes: 8mb }
resources:
  api: { type: http, origins: [${a.origin}, ${b.origin}], retries: 2, healthCheck: { path: /health, interval: 200ms } }
  single: { type: http, origins: [${lone.origin}], retries: 0, headersTimeout: 5s }
routes:
  - match: { path: /api/* }
    proxy: api
    stripPrefix: /api
  - match: { method: GET, path: /users/:id }
    proxy: api
    rewrite: /v2/users/:id/profile
  - match: { method: POST, path: /typed, body: { kind: order } }
    proxy: api
    rewrite: /orders
  - match: { path: /single/* }
    proxy: single
    stripPrefix: /single
    timeout: 300ms
  - match: { method: GET, path: /via-actor }
    pool: caller
pools:
  caller: { actor: ./actors/caller.mjs, resources: [api] }
`, {
      'actors/caller.mjs': `export default {
  receive: async (_s, req, ctx) => {
    const { statusCode, body } = await ctx.resources.api.dispatcher.request({ method: 'GET', path: '/from-actor' });
    return { statusCode, seen: await body.json() };
  },
};
`,
    }), ['--workers', '1']);
  });
  after(async () => {
    try {
      if (app !== undefined) assert.equal(await app.stop(), 0);
    } finally {
      await Promise.all([a, b, lone].filter((u) => u !== undefined).map((u) => kill(u.server).catch(() => {})));
    }
  });

  test('balances across origins, rewrites paths and keeps the query', { timeout: 30_000 }, async () => {
    const origins = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const answer = await call(`${app.url}/api/things/${i}?x=1&y=two`);
      assert.equal(answer.status, 200);
      const seen = answer.json as Seen;
      assert.equal(seen.url, `/things/${i}?x=1&y=two`);
      origins.add(seen.origin);
    }
    assert.deepEqual(origins, new Set(['a', 'b']));
    assert.equal(((await call(`${app.url}/users/a%20b`)).json as Seen).url, '/v2/users/a%20b/profile');
  });

  test('dot segments are resolved before routing and forwarding; climbing above the root is refused with 400', { timeout: 30_000 }, async () => {
    const up = await raw(app.url, 'GET /api/x/../y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    assert.match(up.text, /^HTTP\/1\.1 200 /);
    assert.match(up.text, /"url":"\/y"/, 'the upstream sees the resolved path');
    const encoded = await raw(app.url, 'GET /api/a/%2e%2E/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    assert.match(encoded.text, /"url":"\/b"/);
    for (const path of ['/api/../../etc/passwd', '/api/%2e%2e/%2e%2e/etc/passwd', '/..']) {
      const r = await raw(app.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000);
      assert.match(r.text, /^HTTP\/1\.1 400 /, path);
      assert.match(r.text, /"code":"ACTORRT_E_BAD_PATH"/, path);
    }
  });

  test('actors call an http resource through the same balanced pool', { timeout: 30_000 }, async () => {
    const answer = await call(`${app.url}/via-actor`);
    const { statusCode, seen } = answer.json as { statusCode: number; seen: Seen };
    assert.equal(statusCode, 200);
    assert.equal(seen.url, '/from-actor');
    assert.ok(['a', 'b'].includes(seen.origin));
  });

  test('sets forwarding headers and strips hop-by-hop headers both ways', { timeout: 30_000 }, async () => {
    const answer = await call(`${app.url}/api/h`, {
      headers: { 'x-request-id': 'req-42', 'x-forwarded-for': '10.0.0.1', 'x-custom': 'kept' },
    });
    const seen = answer.json as Seen;
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'http.trustProxy is off: a client\'s own X-Forwarded-For is replaced (proxy-faithful.test.ts covers trusted peers)');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], new URL(app.url).host);
    assert.equal(seen.headers['x-request-id'], 'req-42');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['host'], new URL(seen.origin === 'a' ? a.origin : b.origin).host, 'Host is the upstream origin');
    assert.equal(answer.headers['x-request-id'], 'req-42');
    assert.equal(answer.headers['x-upstream'], seen.origin);
    assert.equal(answer.headers['x-hop'], undefined, 'named in the upstream Connection header');
    assert.doesNotMatch(String(answer.headers['keep-alive']), /77/, "the upstream's Keep-Alive is its own; node:http sets ours");

    // undici never sends a client's Connection header, so speak HTTP by hand for this one.
    const { host } = new URL(app.url);
    const reply = await raw(app.url, `GET /api/raw HTTP/1.1\r\nHost: ${host}\r\nConnection: close, x-private\r\nX-Private: hop\r\nTE: trailers\r\n\r\n`, 3000);
    const echoed = JSON.parse(reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4)) as Seen;
    assert.equal(echoed.headers['x-private'], undefined, 'a header named in Connection is hop-by-hop');
    assert.equal(echoed.headers['te'], undefined);
    assert.equal(echoed.url, '/raw');
  });

  test('streams a large chunked request body to the upstream and the reply back', { timeout: 30_000 }, async () => {
    const payload = randomBytes(3 * 1024 * 1024);
    const chunks = Array.from({ length: 48 }, (_, i) => payload.subarray(i * 65536, (i + 1) * 65536));
    const answer = await call(`${app.url}/api/upload`, { method: 'PUT', body: Readable.from(chunks) });
    const seen = answer.json as Seen;
    assert.equal(answer.status, 200);
    assert.equal(seen.bytes, payload.length);
    assert.equal(seen.sha256, createHash('sha256').update(payload).digest('hex'));
  });

  test('refuses a body over the limit with 413, declared or chunked, without passing it on whole', { timeout: 30_000 }, async () => {
    const hits = (): number => (a.hits.get('/big') ?? 0) + (b.hits.get('/big') ?? 0);
    const { text: reply, closed } = await raw(app.url, 'POST /api/big HTTP/1.1\r\nHost: x\r\nContent-Length: 9437184\r\n\r\n', 3000);
    assert.ok(closed);
    assert.match(reply, /^HTTP\/1\.1 413 [^]*ACTORRT_E_BODY_TOO_LARGE/);
    assert.equal(hits(), 0, 'a declared oversize body never reaches the upstream');

    const chunk = Buffer.alloc(1024 * 1024);
    const answer = await call(`${app.url}/api/big`, { method: 'POST', body: Readable.from(Array.from({ length: 9 }, () => chunk)) });
    assert.equal(answer.status, 413);
    assert.equal(errorOf(answer).code, 'ACTORRT_E_BODY_TOO_LARGE');
  });

  test('routes on a JSON body field, then forwards the body it read', { timeout: 30_000 }, async () => {
    const body = JSON.stringify({ kind: 'order', qty: 3 });
    const answer = await call(`${app.url}/typed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const seen = answer.json as Seen;
    assert.equal(seen.url, '/orders');
    assert.equal(seen.sha256, createHash('sha256').update(body).digest('hex'));
    assert.equal((await call(`${app.url}/typed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":"other"}' })).status, 404);
  });

  test("passes the upstream's own 5xx through unchanged and does not retry it", { timeout: 30_000 }, async () => {
    const before = (a.hits.get('/fail') ?? 0) + (b.hits.get('/fail') ?? 0);
    const answer = await call(`${app.url}/api/fail`);
    assert.equal(answer.status, 500);
    assert.equal((answer.json as Seen).url, '/fail');
    assert.equal((a.hits.get('/fail') ?? 0) + (b.hits.get('/fail') ?? 0), before + 1);
  });

  test('an upstream that does not answer in time gives 504 UPSTREAM_TIMEOUT', { timeout: 30_000 }, async () => {
    const answer = await call(`${app.url}/single/slow`);
    assert.equal(answer.status, 504);
    assert.equal(errorOf(answer).code, 'ACTORRT_E_UPSTREAM_TIMEOUT');
  });

  test('an origin killed mid-test: the balanced route keeps answering; a lone dead upstream gives 502', { timeout: 60_000 }, async () => {
    assert.equal((await call(`${app.url}/single/ok`)).status, 200);
    await kill(b.server);
    await kill(lone.server);
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await call(`${app.url}/api/after-kill/${i}`)).status);
    assert.deepEqual(new Set(statuses), new Set([200]), 'retries and the health check keep the dead origin out');
    await eventually('b is taken out of the balancer (status)', async () => (await resourceStatus(app, 'api')).resource?.originsOut?.includes(b.origin) === true, 10_000);
    const origins = new Set<string>();
    for (let i = 0; i < 10; i++) origins.add(((await call(`${app.url}/api/x`)).json as Seen).origin);
    assert.deepEqual(origins, new Set(['a']));
    assert.equal(logsWith(app.stderr(), { event: 'origin-out', resource: 'api', origin: b.origin, err: (v) => typeof v === 'string' }).length, 1, 'taking b out is logged with why');
    const degraded = await resourceStatus(app, 'api');
    assert.equal(degraded.resource?.state, 'degraded', 'actorrt status shows the origin taken out');
    assert.deepEqual(degraded.resource?.originsOut, [b.origin]);
    assert.equal(degraded.code, 0, 'degraded is still serving');

    // b comes back on the same port: the health check puts it back into the balancer.
    await new Promise<void>((resolve) => b.server.listen(Number(new URL(b.origin).port), '127.0.0.1', resolve));
    const back = new Set<string>();
    await eventually('both origins answer again', async () => {
      back.add(((await call(`${app.url}/api/back`)).json as Seen).origin);
      return back.size === 2;
    }, 10_000, () => [...back].join(', '));
    assert.deepEqual(back, new Set(['a', 'b']));
    assert.equal(logsWith(app.stderr(), { event: 'origin-back', resource: 'api', origin: b.origin }).length, 1, 'putting b back is logged');
    assert.equal((await resourceStatus(app, 'api')).resource?.state, 'available');

    const dead = await call(`${app.url}/single/ok`);
    assert.equal(dead.status, 502);
    assert.equal(errorOf(dead).code, 'ACTORRT_E_UPSTREAM_UNAVAILABLE');
    assert.match(errorOf(dead).message, /upstream "single" \(http:\/\/127\.0\.0\.1:\d+\) is unavailable: ECONNREFUSED/);
    const seen = await resourceStatus(app, 'single');
    assert.equal(seen.resource?.state, 'unavailable', 'actorrt status shows the dead upstream');
    assert.deepEqual(seen.resource?.unavailableIn, ['worker 0']);
    assert.equal(seen.resource?.error, 'ECONNREFUSED');
    assert.equal(logsWith(app.stderr(), { event: 'resource-down', resource: 'single', address: lone.origin }).length, 1, 'the outage is logged once, with the address');

    // Back on the same port: the recovery probe sees it, status and the route follow.
    await new Promise<void>((resolve) => lone.server.listen(Number(new URL(lone.origin).port), '127.0.0.1', resolve));
    await eventually('status shows "single" available again', async () => (await resourceStatus(app, 'single')).resource?.state === 'available', 10_000);
    assert.equal((await call(`${app.url}/single/ok`)).status, 200);
  });

  test('a client that leaves cuts the upstream call; an upstream that breaks mid-body cuts the client; neither is an internal error', { timeout: 30_000 }, async () => {
    const { hostname, port } = new URL(app.url);
    const arrived = (): number => (a.hits.get('/hold') ?? 0) + (b.hits.get('/hold') ?? 0);
    const client = connect(Number(port), hostname, () => client.write('GET /api/hold HTTP/1.1\r\nHost: x\r\n\r\n'));
    client.on('error', () => undefined);
    await eventually('the held request reaches an origin', () => Promise.resolve(arrived() === 1), 10_000);
    client.destroy();
    await eventually('the upstream connection of the held request is closed', () => Promise.resolve(a.cut.count + b.cut.count === 1), 10_000);
    assert.equal(arrived(), 1, 'a request the client gave up on is not retried');

    const half = await request(`${app.url}/single/half`);
    assert.equal(half.statusCode, 200, 'the head was already on its way');
    await assert.rejects(half.body.text(), 'the client sees the reply cut short, not a complete one');
    assert.equal((await call(`${app.url}/single/ok`)).status, 200, 'the worker serves on');
    assert.equal(logsWith(app.stderr(), { msg: 'internal error while handling a request' }).length, 0);
  });
});
