import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ErrorBody } from 'actorrt';
import { startTopology } from 'actorrt/testing';

interface Hashed { key: string; pid: number }

// The kit runs every pool inline: the isolated `hash` pool's actors answer in this very process,
// with no processes forked, so its actor is tested like any other. One instance for the file's
// tests, closed once they have run (pass or fail).
const app = await startTopology(join(import.meta.dirname, '..', 'actorrt.yml'));
after(() => app.close());

test('the isolated hash pool answers in-process: a stable key per password and salt', async () => {
  const hash = (body: object) => app.request<Hashed>({ method: 'POST', url: '/hash', body });
  const first = await hash({ password: 'hunter2', salt: 's' });
  assert.equal(first.status, 200);
  assert.match(first.body.key, /^[0-9a-f]{64}$/);
  assert.equal(first.body.pid, process.pid, 'no process of its own under the kit');
  assert.equal((await hash({ password: 'hunter2', salt: 's' })).body.key, first.body.key);
  assert.notEqual((await hash({ password: 'hunter2', salt: 't' })).body.key, first.body.key);
});

test('the fast route answers from the front (inline pool)', async () => {
  const res = await app.request<{ pong: boolean; pid: number }>({ url: '/ping' });
  assert.deepEqual(res.body, { pong: true, pid: process.pid });
});

test('bad input: no password is 400 PASSWORD_REQUIRED; GET /hash is 405', async () => {
  for (const body of [{}, { password: '' }, { password: 42 }]) {
    const res = await app.request<ErrorBody>({ method: 'POST', url: '/hash', body });
    assert.deepEqual([res.status, res.body.error.code], [400, 'PASSWORD_REQUIRED'], JSON.stringify(body));
  }
  const get = await app.request<ErrorBody>({ url: '/hash' });
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, 'POST');
});
