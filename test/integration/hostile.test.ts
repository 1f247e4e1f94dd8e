import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually, within } from '../helpers.js';
import { call, callFresh, errorOf, raw, startInstance, type Instance } from './instance.js';

/**
 * Hostile HTTP input against the real CLI (one front worker, tight limits): every shape gets a
 * clean 4xx or a closed connection within its timeout, nothing reaches an actor or an upstream
 * that should not, and normal requests keep being answered.
 */
const TOPOLOGY = 'test/fixtures/hardening/hostile.yml';

/** Raw sockets: connect, write `data`, keep the socket. */
function open(url: string, data = ''): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      if (data !== '') socket.write(data);
      resolve(socket);
    });
    socket.on('error', () => undefined);
  });
}

describe('hostile clients', () => {
  let app: Instance;
  let upstream: Server;
  const seen: string[] = [];

  before(async () => {
    upstream = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as { port: number };
    app = await startInstance(TOPOLOGY, [], undefined, { UPSTREAM: `http://127.0.0.1:${port}` });
  });
  after(async () => {
    try {
      if (app !== undefined) assert.equal(await app.stop(), 0);
    } finally {
      upstream?.closeAllConnections();
      await new Promise((resolve) => (upstream === undefined ? resolve(undefined) : upstream.close(resolve)));
    }
  });

  test('request smuggling shapes are refused with 400 and the connection closed; the smuggled request never runs', { timeout: 30_000 }, async () => {
    const smuggled = 'GET /echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const shapes = {
      'Content-Length and Transfer-Encoding': `POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      'two different Content-Length': `POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 44\r\n\r\nabcd${smuggled}`,
      'Transfer-Encoding not ending in chunked': `POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
      'space before the colon': `POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${smuggled}`,
      'a bad chunk size': `POST /echo/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n${smuggled}`,
    };
    for (const [shape, data] of Object.entries(shapes)) {
      const r = await raw(app.url, data, 3000);
      assert.ok(r.closed, `${shape}: connection closed`);
      assert.match(r.text, /^HTTP\/1\.1 400 /, shape);
      assert.doesNotMatch(r.text, /smuggled/, `${shape}: the smuggled request did not run`);
    }
    assert.equal((await call(`${app.url}/echo/1`)).status, 200);
  });

  test('invalid UTF-8 and JSON nested past the bound are 400 BAD_JSON, inline and isolated; a large flat document is fine', { timeout: 30_000 }, async () => {
    const badUtf8 = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const wide = JSON.stringify(Array.from({ length: 1500 }, (_, i) => ({ i, v: 'x'.repeat(20) })));
    for (const route of ['echo', 'iso']) {
      for (const [body, message] of [[badUtf8, /not valid UTF-8/], [deep, /nests JSON deeper than 256/]] as const) {
        const answer = await call(`${app.url}/${route}/1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        assert.equal(answer.status, 400);
        assert.equal(errorOf(answer).code, 'ACTORRT_E_BAD_JSON');
        assert.match(errorOf(answer).message, message);
      }
      const ok = await call(`${app.url}/${route}/1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: wide });
      assert.equal(ok.status, 200);
      assert.equal(((ok.json as { body: unknown[] }).body).length, 1500);
    }
  });

  test('a body past the limit is 413 without being read, inline, isolated and proxied', { timeout: 30_000 }, async () => {
    for (const path of ['/echo/1', '/iso/1', '/files/upload']) {
      const r = await raw(app.url, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n${'a'.repeat(1000)}`, 3000);
      assert.match(r.text, /^HTTP\/1\.1 413 /, path);
      assert.match(r.text, /ACTORRT_E_BODY_TOO_LARGE/);
    }
    assert.ok(!seen.includes('/files/upload') && !seen.includes('/upload'), 'the upstream never saw the oversized upload');
  });

  test('path traversal never leaves the proxy route\'s prefix: climbing is 400 BAD_PATH, in-prefix dots are resolved; a malformed %-escape is 400 too', { timeout: 30_000 }, async () => {
    for (const path of ['/files/../../etc/passwd', '/files/%2e%2e/%2e%2e/etc/passwd', '/files/..%2f..%2fetc%2fpasswd', '/files/..\\..\\etc\\passwd', '/files/%2E%2E/%2E%2E/']) {
      const r = await raw(app.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000);
      assert.match(r.text, /^HTTP\/1\.1 400 /, path);
      assert.match(r.text, /ACTORRT_E_BAD_PATH/, path);
    }
    assert.deepEqual(seen.filter((p) => p.includes('passwd') || p.includes('..')), [], 'nothing climbing reached the upstream');
    for (const path of ['/echo/%ff', '/echo/%', '/echo/%E0%A4%A']) {
      const r = await raw(app.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000);
      assert.match(r.text, /^HTTP\/1\.1 400 /, path);
      assert.match(r.text, /malformed percent-encoding/, path);
    }
    const inside = await raw(app.url, 'GET /files/a/./b/../c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    assert.match(inside.text, /^HTTP\/1\.1 200 /);
    assert.match(inside.text, /"path":"\/files\/a\/c"/);
  });

  test('connections past maxConnections are closed at once; idle ones end at headersTimeout; then normal requests are served', { timeout: 30_000 }, async () => {
    const flood = await Promise.all(Array.from({ length: 150 }, () => open(app.url)));
    const closed = new Set<Socket>();
    for (const s of flood) s.on('close', () => closed.add(s));
    try {
      await eventually('connections past the limit are closed', () => closed.size >= 150 - 40, 10_000, () => `${closed.size} closed`);
      await eventually('idle connections end at the headers timeout', () => closed.size === 150, 10_000, () => `${closed.size} closed`);
    } finally {
      for (const s of flood) s.destroy();
    }
    assert.equal((await callFresh(app.url, '/echo/1')).status, 200);
  });

  test('slowloris under the connection limit: each trickling client gets 408 within the headers timeout while normal requests are answered', { timeout: 30_000 }, async () => {
    const slow = await Promise.all(Array.from({ length: 30 }, () => open(app.url, 'GET /echo/1 HTTP/1.1\r\nHost: x\r\n')));
    const answers = slow.map((s) => {
      let text = '';
      s.on('data', (d: Buffer) => { text += d.toString(); });
      return { socket: s, text: () => text, closed: new Promise<void>((resolve) => s.once('close', () => resolve())) };
    });
    const trickle = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write('X-a: b\r\n'); }, 100);
    try {
      for (let i = 0; i < 10; i++) assert.equal((await callFresh(app.url, '/echo/1')).status, 200);
      // They would trickle forever: only the server's headers timeout ends them, with a 408 each.
      await within('every trickling client cut off by the server', Promise.all(answers.map((a) => a.closed)), 20_000);
      for (const a of answers) assert.match(a.text(), /^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
      for (const s of slow) s.destroy();
    }
  });
});
