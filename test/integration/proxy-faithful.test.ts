import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Client } from 'undici';
import { writeProject } from '../helpers.js';
import { percentEncoded } from '../percent-encoded.js';
import { call, errorOf, raw, runCli, startInstance, type Answer, type Instance } from './instance.js';

/** Exactly what the upstream received for one request. */
interface Received {
  readonly method: string;
  /** The request target as it arrived (req.url: raw path and query). */
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** A node:http upstream on port 0 that records every request by its x-request-id and answers 200 with a short JSON. */
async function recorder(): Promise<{ server: Server; origin: string; received: Map<string, Received>; count(): number }> {
  const received = new Map<string, Received>();
  let count = 0;
  const server = createServer((req: IncomingMessage, res) => {
    count++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['x-request-id']);
      received.set(id, { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, count: () => count };
}

function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const WHOAMI = 'export default { receive: (_s, req) => ({ ip: req.ip, protocol: req.protocol, params: req.params }) };\n';

let ids = 0;
/** A request id of its own, to find what the upstream received for it. */
const nextId = (): string => `faithful-${process.pid}-${++ids}`;

describe('proxy routes pass requests through faithfully', () => {
  let up: Awaited<ReturnType<typeof recorder>>;
  let app: Instance;
  /** Connections from 127.0.0.2: a loopback address the topology does not trust. */
  let untrusted: Client;

  /** Send one request (with its own x-request-id) and return the answer and what the upstream received. */
  async function send(path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer | Readable; dispatcher?: Client } = {}):
    Promise<{ answer: Answer; seen: Received | undefined }> {
    const id = nextId();
    const { method = 'GET', headers = {}, body, dispatcher } = options;
    const answer = await call(`${app.url}${path}`, {
      method: method as 'GET', headers: { 'x-request-id': id, ...headers }, ...(body === undefined ? {} : { body }), ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    return { answer, seen: up.received.get(id) };
  }

  before(async () => {
    up = await recorder();
    app = await startInstance(writeProject(`version: 1
http:
  limits: { bodyBytes: 64kb }
  trustProxy: [127.0.0.1, "fd00::/8"]
resources:
  up: { type: http, origins: [${up.origin}], retries: 0 }
caches:
  local: { store: memory }
pools:
  whoami: { actor: ./actors/whoami.mjs }
  whoami-iso: { actor: ./actors/whoami.mjs, processes: 1 }
routes:
  - match: { path: /es/* }
    proxy: up
  - match: { path: /objects/* }
    proxy: up
    rewrite: /v1/objects/*
  - match: { path: /users/:id/files/:name }
    proxy: up
    rewrite: /v2/:name/of/:id
  - match: { path: /strip/* }
    proxy: up
    stripPrefix: /strip
  - match: { method: GET, path: /cached/* }
    proxy: up
    cache: { use: local, key: "c:{path}" }
  - match: { method: [POST, DELETE, OPTIONS], path: /inval/* }
    proxy: up
    invalidate: ["c:*"]
  - match: { method: POST, path: /typed, body: { kind: search } }
    proxy: up
  - match: { path: /whoami }
    pool: whoami
  - match: { path: /whoami-iso }
    pool: whoami-iso
  - match: { path: /echo/:id }
    pool: whoami
`, { 'actors/whoami.mjs': WHOAMI }), ['--workers', '1']);
    untrusted = new Client(app.url, { localAddress: '127.0.0.2' });
  });
  after(async () => {
    try {
      await untrusted?.close();
      if (app !== undefined) assert.equal(await app.stop(), 0);
    } finally {
      if (up !== undefined) await stop(up.server);
    }
  });

  test('a GET with a JSON body (an Elasticsearch _search) reaches the upstream with that body, declared or chunked', { timeout: 30_000 }, async () => {
    const query = JSON.stringify({ query: { match: { title: 'actors' } }, size: 3 });
    const { answer, seen } = await send('/es/_search?pretty', { headers: { 'content-type': 'application/json' }, body: query });
    assert.equal(answer.status, 200);
    assert.equal(seen?.method, 'GET');
    assert.equal(seen.url, '/es/_search?pretty');
    assert.equal(seen.body.toString(), query);
    assert.equal(seen.headers['content-length'], String(Buffer.byteLength(query)));
    assert.equal(seen.headers['content-type'], 'application/json');

    const chunks = [Buffer.from('{"query":'), Buffer.from('{"match_all":{}}}')];
    const chunked = await send('/es/_search', { headers: { 'content-type': 'application/json' }, body: Readable.from(chunks) });
    assert.equal(chunked.answer.status, 200);
    assert.equal(chunked.seen?.body.toString(), '{"query":{"match_all":{}}}');
    assert.equal(chunked.seen.headers['transfer-encoding'], 'chunked', 'streamed as it came, not buffered');

    const plain = await send('/es/_search');
    assert.equal(plain.seen?.body.length, 0, 'a GET without a body stays without one');
    assert.equal(plain.seen.headers['content-length'], undefined);
    assert.equal(plain.seen.headers['transfer-encoding'], undefined);
  });

  test('bodies of DELETE, OPTIONS and HEAD requests are forwarded too, byte for byte (binary, declared and chunked)', { timeout: 30_000 }, async () => {
    for (const method of ['DELETE', 'OPTIONS', 'HEAD', 'POST', 'PUT', 'PATCH']) {
      const bytes = randomBytes(3000);
      const declared = await send(`/es/${method.toLowerCase()}`, { method, body: bytes });
      assert.equal(declared.answer.status, 200, method);
      assert.equal(declared.seen?.method, method);
      assert.ok(declared.seen.body.equals(bytes), `${method}: the body arrives unchanged`);
      const chunked = await send(`/es/${method.toLowerCase()}`, { method, body: Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]) });
      assert.equal(chunked.answer.status, 200, method);
      assert.ok(chunked.seen?.body.equals(bytes), `${method} chunked: the body arrives unchanged`);
    }
  });

  test('the buffered path (cached and invalidating proxy routes) forwards bodies as they came, JSON or not', { timeout: 30_000 }, async () => {
    const query = '{"query":{"term":{"id":7}}}';
    const cached = await send(`/cached/${nextId()}`, { headers: { 'content-type': 'application/json' }, body: query });
    assert.equal(cached.answer.status, 200);
    assert.equal(cached.seen?.method, 'GET');
    assert.equal(cached.seen.body.toString(), query, 'a cache miss forwards the GET body');

    for (const method of ['DELETE', 'OPTIONS', 'POST']) {
      const notJson = Buffer.concat([Buffer.from('{"ids": [1, 2'), randomBytes(64)]);
      const { answer, seen } = await send('/inval/x', { method, headers: { 'content-type': 'application/json' }, body: notJson });
      assert.equal(answer.status, 200, `${method}: the upstream judges the body, not actorrt`);
      assert.ok(seen !== undefined && seen.body.equals(notJson), `${method}: forwarded unchanged`);
      assert.equal(seen.headers['content-length'], String(notJson.length));
      const chunked = await send('/inval/x', { method, body: Readable.from([notJson]) });
      assert.ok(chunked.seen?.body.equals(notJson), `${method} chunked: forwarded whole`);
    }

    const search = JSON.stringify({ kind: 'search', q: 'x' });
    const typed = await send('/typed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: search });
    assert.equal(typed.seen?.body.toString(), search, 'a body read for routing is forwarded as it was sent');
  });

  test('a GET body past http.limits.bodyBytes gets 413, declared or chunked, and never reaches the upstream whole', { timeout: 30_000 }, async () => {
    const before = up.count();
    const { text, closed } = await raw(app.url, 'GET /es/_search HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n', 3000);
    assert.ok(closed);
    assert.match(text, /^HTTP\/1\.1 413 [^]*ACTORRT_E_BODY_TOO_LARGE/);
    assert.equal(up.count(), before, 'a declared oversize body is refused before the upstream is called');
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    const id = nextId();
    const answer = await call(`${app.url}/es/_search`, { headers: { 'x-request-id': id }, body: Readable.from(Array.from({ length: 6 }, () => chunk)) });
    assert.equal(answer.status, 413);
    assert.equal(errorOf(answer).code, 'ACTORRT_E_BODY_TOO_LARGE');
    assert.equal(up.received.get(id), undefined, 'the upstream never got a whole request');
  });

  test('rewrite forwards the wildcard and :params exactly as the client encoded them', { timeout: 30_000 }, async () => {
    const reported = await send('/objects/reports%2F2024%3Fshare%3Dpublic');
    assert.equal(reported.seen?.url, '/v1/objects/reports%2F2024%3Fshare%3Dpublic');
    for (const part of ['100%25', 'a%00b', '%FF%fe', '~x', '%7Ex', 'a+b', 'a%2bb', 'caf%c3%a9', 'x%3A%40', 'dir/', 'a%2Fb%2Fc', "!$&'()*,;=:@"]) {
      const { answer, seen } = await send(`/objects/${part}?q=a+b%20c`);
      assert.equal(answer.status, 200, part);
      assert.equal(seen?.url, `/v1/objects/${part}?q=a+b%20c`, part);
    }
    assert.equal((await send('/users/a%2Fb/files/r%C3%A9sum%C3%A9+v2.pdf')).seen?.url, '/v2/r%C3%A9sum%C3%A9+v2.pdf/of/a%2Fb');
    assert.equal((await send('/users/%FF/files/%7e')).seen?.url, '/v2/%7e/of/%FF', 'bytes that are not UTF-8 in a :param');
    assert.equal((await send('/strip/%7E/a+b')).seen?.url, '/%7E/a+b');

    const actor = await send('/echo/%FF');
    assert.equal(actor.answer.status, 400, 'an actor takes text: bytes that are not UTF-8 are refused');
    assert.equal(errorOf(actor.answer).code, 'ACTORRT_E_BAD_PATH');
    assert.equal((await send('/objects/%zz')).answer.status, 400, 'a malformed escape is no path');
  });

  test('any bytes, however percent-encoded: what the upstream receives is what the client sent for that part', { timeout: 120_000 }, async () => {
    await fc.assert(fc.asyncProperty(percentEncoded(true), percentEncoded(false), percentEncoded(false), async (rest, id, name) => {
      assert.equal((await send(`/objects/${rest}`)).seen?.url, `/v1/objects/${rest}`);
      assert.equal((await send(`/users/${id}/files/${name}`)).seen?.url, `/v2/${name}/of/${id}`);
      assert.equal((await send(`/strip/${rest}`)).seen?.url, `/${rest}`);
    }), { numRuns: 150 });
  });

  test('from a trusted peer X-Forwarded-Proto and -Host are kept and X-Forwarded-For appended; from anyone else all three are replaced', { timeout: 30_000 }, async () => {
    const { host } = new URL(app.url);
    const lb = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example', 'x-real-ip': '203.0.113.9', forwarded: 'for=203.0.113.9' };
    const trusted = await send('/es/x', { headers: lb });
    assert.equal(trusted.seen?.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(trusted.seen.headers['x-forwarded-proto'], 'https', 'the load balancer terminated TLS: the app must not redirect in a loop');
    assert.equal(trusted.seen.headers['x-forwarded-host'], 'shop.example');
    assert.equal(trusted.seen.headers['x-real-ip'], '203.0.113.9');
    assert.equal(trusted.seen.headers['forwarded'], 'for=203.0.113.9');

    const spoofed = await send('/es/x', { headers: lb, dispatcher: untrusted });
    assert.equal(spoofed.seen?.headers['x-forwarded-for'], '127.0.0.2', 'a claim nobody vouches for is replaced by the peer');
    assert.equal(spoofed.seen.headers['x-forwarded-proto'], 'http');
    assert.equal(spoofed.seen.headers['x-forwarded-host'], host);
    assert.equal(spoofed.seen.headers['x-real-ip'], undefined);
    assert.equal(spoofed.seen.headers['forwarded'], undefined);

    const cached = await send(`/cached/${nextId()}`, { headers: lb, dispatcher: untrusted });
    assert.equal(cached.seen?.headers['x-forwarded-for'], '127.0.0.2', 'the buffered path applies the same rules');
    assert.equal(cached.seen.headers['x-forwarded-proto'], 'http');
  });

  test('actors see the client address and protocol resolved the same way, inline and in an isolated pool process', { timeout: 30_000 }, async () => {
    const lb = { 'x-forwarded-for': '198.51.100.7, 203.0.113.9', 'x-forwarded-proto': 'https' };
    for (const path of ['/whoami', '/whoami-iso']) {
      const direct = await send(path);
      assert.deepEqual(direct.answer.json, { ip: '127.0.0.1', protocol: 'http', params: {} }, path);
      const behind = await send(path, { headers: lb });
      assert.deepEqual(behind.answer.json, { ip: '203.0.113.9', protocol: 'https', params: {} }, `${path}: the right-most untrusted address`);
      const spoofed = await send(path, { headers: lb, dispatcher: untrusted });
      assert.deepEqual(spoofed.answer.json, { ip: '127.0.0.2', protocol: 'http', params: {} }, `${path}: an untrusted peer's headers are not believed`);
    }
  });
});

test('on a dual-stack listener an IPv4 client (::ffff:127.0.0.1) matches the IPv4 entry; ::1 is nobody the list names; a reload changes trust live', { timeout: 60_000 }, async (t) => {
  const up = await recorder();
  t.after(() => stop(up.server));
  const topology = (trust: string): string => `version: 1
http:
  host: "::"
  trustProxy: ${trust}
resources:
  up: { type: http, origins: [${up.origin}], retries: 0 }
pools:
  whoami: { actor: ./actors/whoami.mjs }
routes:
  - match: { path: /up/* }
    proxy: up
  - match: { path: /whoami }
    pool: whoami
`;
  const file = writeProject(topology('127.0.0.1'), { 'actors/whoami.mjs': WHOAMI });
  const app = await startInstance(file, ['--workers', '1', '--no-watch'], t);
  const port = new URL(app.url).port;
  const headers = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' };
  const v4 = await call(`http://127.0.0.1:${port}/whoami`, { headers });
  assert.deepEqual(v4.json, { ip: '203.0.113.9', protocol: 'https', params: {} });
  const v6 = await call(`http://[::1]:${port}/whoami`, { headers });
  assert.deepEqual(v6.json, { ip: '::1', protocol: 'http', params: {} });

  const id = nextId();
  await call(`http://127.0.0.1:${port}/up/x`, { headers: { ...headers, 'x-request-id': id } });
  assert.equal(up.received.get(id)?.headers['x-forwarded-for'], '203.0.113.9, ::ffff:127.0.0.1');
  const id6 = nextId();
  await call(`http://[::1]:${port}/up/x`, { headers: { ...headers, 'x-request-id': id6 } });
  assert.equal(up.received.get(id6)?.headers['x-forwarded-for'], '::1');
  assert.equal(up.received.get(id6)?.headers['x-forwarded-proto'], 'http');

  writeFileSync(file, topology('false'));
  const reload = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /http\.trustProxy: \["127\.0\.0\.1"\] -> false/);
  const after = await call(`http://127.0.0.1:${port}/whoami`, { headers });
  assert.deepEqual(after.json, { ip: '::ffff:127.0.0.1', protocol: 'http', params: {} }, 'trustProxy applies live on reload');
  assert.equal(await app.stop(), 0);
});

test('actorrt validate names a bad http.trustProxy entry with file:line:col and its code', { timeout: 30_000 }, async () => {
  const file = writeProject(`version: 1
http:
  trustProxy:
    - loopback
    - 10.0.0.0/33
pools:
  api: { actor: ./actors/api.ts }
routes:
  - match: { path: /x }
    pool: api
`);
  const { code, stdout, stderr } = await runCli(['validate', file, '--no-import']);
  assert.equal(code, 1);
  assert.match(stdout + stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:7 +ACTORRT_E_CONFIG_VALUE +http\\.trustProxy: "10\\.0\\.0\\.0/33" is not an address, a CIDR or a preset`));
});
