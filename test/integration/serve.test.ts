import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../helpers.js';
import { call, errorOf, raw, startInstance, until, type Answer, type Instance } from './instance.js';

/** A file the slow actor waits for (?gate=): the request it holds is answered once the file exists. */
function gate(): { query: string; open(): void } {
  const file = join(tempDir('gate'), 'open');
  return { query: `gate=${encodeURIComponent(file)}`, open: () => { if (!existsSync(file)) writeFileSync(file, ''); } };
}

const TOPOLOGY = 'test/fixtures/runtime/actorrt.yml';

describe('actorrt start: serving the fixture topology', () => {
  let app: Instance;
  before(async () => { app = await startInstance(TOPOLOGY); });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  test('prints the ready line with the real port, worker and pool counts', { timeout: 30_000 }, () => {
    assert.match(app.stdout(), /^actorrt ready on http:\/\/127\.0\.0\.1:\d+ \(2 workers, 4 pools\)\n/);
    assert.doesNotMatch(app.url, /:0$/);
  });

  test('routes by path parameter and hands the actor params, query and request id', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/echo/42?x=1&x=2&y=z`);
    assert.equal(a.status, 200);
    const body = a.json as { method: string; params: object; query: object; requestId: string };
    assert.equal(body.method, 'GET');
    assert.deepEqual(body.params, { id: '42' });
    assert.deepEqual(body.query, { x: ['1', '2'], y: 'z' });
    assert.equal(a.headers['x-request-id'], body.requestId);
    assert.match(String(a.headers['x-actor']), /^echo\/[01]$/);
  });

  test('routes by header: a text body reaches the actor as a Buffer', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(a.status, 200);
    assert.deepEqual((a.json as { body: unknown }).body, { buffer: 'hello' });
  });

  test('routes by JSON body field, and answers 404 when no route accepts the body', { timeout: 30_000 }, async () => {
    const ok = await call(`${app.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'json', n: 1 }) });
    assert.equal(ok.status, 200);
    assert.deepEqual((ok.json as { body: unknown }).body, { kind: 'json', n: 1 });
    const miss = await call(`${app.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'xml' }) });
    assert.equal(miss.status, 404);
    assert.equal(errorOf(miss).code, 'ACTORRT_E_NOT_FOUND');
  });

  test('keeps a well-formed incoming x-request-id and replaces a malformed one', { timeout: 30_000 }, async () => {
    const kept = await call(`${app.url}/echo/1`, { headers: { 'x-request-id': 'trace-abc.123' } });
    assert.equal(kept.headers['x-request-id'], 'trace-abc.123');
    const replaced = await call(`${app.url}/echo/1`, { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.notEqual(replaced.headers['x-request-id'], 'bad id with spaces');
    assert.match(String(replaced.headers['x-request-id']), /^[A-Za-z0-9_-]+-[0-9a-z]+$/);
  });

  test('answers 404 with a JSON error body and the request id', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/nowhere`);
    assert.equal(a.status, 404);
    const e = errorOf(a);
    assert.equal(e.code, 'ACTORRT_E_NOT_FOUND');
    assert.equal(e.requestId, a.headers['x-request-id']);
    assert.match(String(a.headers['content-type']), /^application\/json/);
  });

  test('answers 405 with an Allow header when the path exists for other methods', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/echo/1`, { method: 'DELETE' });
    assert.equal(a.status, 405);
    assert.equal(a.headers['allow'], 'GET, HEAD');
    assert.equal(errorOf(a).code, 'ACTORRT_E_METHOD_NOT_ALLOWED');
  });

  test('answers 400 with a code for malformed JSON', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":' });
    assert.equal(a.status, 400);
    assert.equal(errorOf(a).code, 'ACTORRT_E_BAD_JSON');
  });

  test('answers 413 for a chunked body that grows past the limit', { timeout: 30_000 }, async () => {
    const big = 'x'.repeat(4096);
    const a = await call(`${app.url}/echo`, {
      method: 'POST', headers: { 'content-type': 'text/plain' },
      body: Readable.from([big.slice(0, 2048), big.slice(2048)]),
    });
    assert.equal(a.status, 413);
    assert.equal(errorOf(a).code, 'ACTORRT_E_BODY_TOO_LARGE');
  });

  test('answers 413 at once to a declared Content-Length over the limit, without reading the body', { timeout: 30_000 }, async () => {
    // A raw socket: declare 1 MB, send none of it, and the answer must still come.
    const { text: reply, closed } = await raw(app.url, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1048576\r\n\r\n', 3000);
    assert.ok(closed, 'the server closed the connection instead of waiting for the body');
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /ACTORRT_E_BODY_TOO_LARGE/);
    assert.match(reply, /[Cc]onnection: close/);
  });

  test('answers 504 with a code when the actor is slower than the pool timeout', { timeout: 30_000 }, async (t) => {
    const held = gate(); // the actor is still busy when the pool's 300 ms timeout answers
    t.after(held.open);
    const a = await call(`${app.url}/slow?${held.query}`);
    assert.equal(a.status, 504);
    assert.equal(errorOf(a).code, 'ACTORRT_E_TIMEOUT');
    held.open();
    await until(app, 'the slow actor is free again', (s) => s.pools.find((p) => p.name === 'slow')?.depth === 0);
  });

  test('answers 503 with Retry-After when every mailbox of the pool is full', { timeout: 30_000 }, async (t) => {
    // slow: 1 actor, capacity 2, in each of 2 workers. 12 concurrent requests held at a gate cannot all fit.
    const held = gate();
    t.after(held.open);
    let refused = 0;
    const answers = Array.from({ length: 12 }, () => call(`${app.url}/gate?${held.query}`).then((a) => {
      if (a.status === 503) refused++;
      return a;
    }));
    // Every request is either refused at once or queued at the gate.
    await until(app, 'all 12 requests refused or queued', (s) => refused + (s.pools.find((p) => p.name === 'slow')?.depth ?? 0) === 12);
    held.open();
    const settled: Answer[] = await Promise.all(answers);
    const full = settled.filter((a) => a.status === 503);
    const ok = settled.filter((a) => a.status === 200);
    assert.ok(full.length > 0, 'some requests were refused');
    assert.ok(ok.length > 0, 'the ones that fit were served');
    assert.equal(full.length + ok.length, 12);
    for (const a of full) {
      assert.equal(errorOf(a).code, 'ACTORRT_E_MAILBOX_FULL');
      assert.equal(a.headers['retry-after'], '1');
    }
  });

  test('an actor that throws fails only that request with 500 and its id, then serves again (state reset)', { timeout: 30_000 }, async () => {
    const before = await call(`${app.url}/crashy`);
    assert.equal(before.status, 200);
    const crash = await call(`${app.url}/crashy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"poison":true}' });
    assert.equal(crash.status, 500);
    const e = errorOf(crash);
    assert.equal(e.code, 'ACTORRT_E_ACTOR_FAILED');
    assert.equal(e.requestId, crash.headers['x-request-id']);
    assert.doesNotMatch(crash.text, /poison message|at .*\.js/, 'no stack trace or internal message leaks');
    const later = await call(`${app.url}/crashy`);
    assert.equal(later.status, 200);
  });

  test('ctx.ask reaches another pool and returns its reply body', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/ask/7`);
    assert.equal(a.status, 200);
    const asked = (a.json as { asked: { method: string; body: unknown } }).asked;
    assert.equal(asked.method, 'ASK');
    assert.deepEqual(asked.body, { from: 'asker', id: '7' });
  });

  test('ctx.ask to an undeclared pool fails that request with its code', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/ask/unknown`);
    assert.equal(a.status, 500);
    assert.equal(errorOf(a).code, 'ACTORRT_E_ACTOR_FAILED');
  });

  test('answers health and readiness itself', { timeout: 30_000 }, async () => {
    const live = await call(`${app.url}/healthz`);
    assert.deepEqual([live.status, live.json], [200, { status: 'ok' }]);
    const ready = await call(`${app.url}/readyz`);
    assert.deepEqual([ready.status, ready.json], [200, { status: 'ready' }]);
  });

  test('keeps connections alive and serves pipelined requests in order', { timeout: 30_000 }, async () => {
    const { text: reply } = await raw(app.url, 'GET /echo/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    const ids = [...reply.matchAll(/"params":\{"id":"(\d)"\}/g)].map((m) => m[1]);
    assert.deepEqual(ids, ['1', '2', '3']);
  });
});
