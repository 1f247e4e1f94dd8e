import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, raw, startInstance, type Instance } from './instance.js';

describe('http.limits', () => {
  let app: Instance;
  before(async () => { app = await startInstance('test/fixtures/runtime/timeouts.yml'); });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  test('a client that never finishes its headers gets 408 and is disconnected (headersTimeout)', { timeout: 30_000 }, async () => {
    const r = await raw(app.url, 'GET /echo/1 HTTP/1.1\r\nHost: x\r\nX-Slow: ', 5000);
    assert.ok(r.closed, 'the server closed the connection');
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.match(r.text, /"code":"ACTORRT_E_REQUEST_TIMEOUT"/);
  });

  test('a request that is not HTTP gets 400 with a code and is disconnected', { timeout: 30_000 }, async () => {
    const r = await raw(app.url, 'HELLO THERE\r\n\r\n', 3000);
    assert.ok(r.closed);
    assert.match(r.text, /^HTTP\/1\.1 400 Bad Request/);
    assert.match(r.text, /"code":"ACTORRT_E_BAD_REQUEST"/);
    const id = /\r\nX-Request-Id: ([^\r]+)\r\n/i.exec(r.text)?.[1];
    assert.ok(id !== undefined, 'a connection-level error carries x-request-id too');
    assert.match(r.text, new RegExp(`"requestId":"${id}"`));
  });

  test('oversized headers get 431 with a code', { timeout: 30_000 }, async () => {
    const r = await raw(app.url, `GET /echo/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 3000);
    assert.match(r.text, /^HTTP\/1\.1 431 /);
    assert.match(r.text, /"code":"ACTORRT_E_HEADERS_TOO_LARGE"/);
  });

  test('a client that never finishes its body is disconnected (requestTimeout)', { timeout: 30_000 }, async () => {
    const r = await raw(app.url, 'POST /echo/1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc', 5000);
    assert.ok(r.closed, 'the server closed the connection');
  });

  test('normal requests are unaffected', { timeout: 30_000 }, async () => {
    assert.equal((await call(`${app.url}/echo/1`)).status, 200);
  });
});
