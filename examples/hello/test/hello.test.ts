import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { AskReply, ErrorBody } from 'actorrt';
import { startTopology, type TestTopology } from 'actorrt/testing';
import type greeter from '../actors/greeter.ts';
import type counter from '../actors/counter.ts';

/** Reply bodies, typed from what the actors return. */
type Greeting = AskReply<typeof greeter>;
type Count = AskReply<typeof counter>;

/** A fresh instance of examples/hello for one test, in this process (no port), closed when the test ends. */
async function hello(t: TestContext): Promise<TestTopology> {
  const app = await startTopology(join(import.meta.dirname, '..', 'actorrt.yml'));
  t.after(() => app.close());
  return app;
}

test('GET /hello routes to the greeter, by path parameter or query', async (t) => {
  const app = await hello(t);
  assert.equal((await app.request<Greeting>({ url: '/hello/ada' })).body.hello, 'ada');
  assert.equal((await app.request<Greeting>({ url: '/hello?name=bob' })).body.hello, 'bob');
  assert.equal((await app.request<Greeting>({ url: '/hello' })).body.hello, 'world');
});

test('POST /events routes by body field (type: count -> counter) and by header (text/* -> greeter)', async (t) => {
  const app = await hello(t);
  const counted = await app.request<Count>({ method: 'POST', url: '/events', body: { type: 'count', by: 2 } });
  assert.equal(counted.status, 201);
  assert.deepEqual(counted.body, { count: 2 });

  const greeted = await app.request<Greeting>({ method: 'POST', url: '/events', headers: { 'content-type': 'text/plain' }, body: 'carol' });
  assert.equal(greeted.status, 200);
  assert.equal(greeted.body.hello, 'carol');

  // JSON whose type no route matches: no route accepts this body.
  const other = await app.request<ErrorBody>({ method: 'POST', url: '/events', body: { type: 'other' } });
  assert.equal(other.status, 404);
  assert.equal(other.body.error.code, 'ACTORRT_E_NOT_FOUND');
});

test('state lives in each actor: the one counter keeps a running count; each greeter counts its own greetings', async (t) => {
  const app = await hello(t);
  await app.request({ method: 'POST', url: '/events', body: { type: 'count' } });
  await app.request({ method: 'POST', url: '/events', body: { type: 'count', by: 5 } });
  assert.deepEqual((await app.request({ url: '/count' })).body, { count: 6 });
  assert.equal((await app.request({ method: 'DELETE', url: '/count' })).status, 204);
  assert.deepEqual((await app.request({ url: '/count' })).body, { count: 0 });

  // The greeter pool has 4 actors: whichever one answers, its count is its own.
  const seen = new Map<number, number>();
  for (let i = 0; i < 8; i++) {
    const { body } = await app.request<Greeting>({ url: '/hello/ada' });
    seen.set(body.actor, (seen.get(body.actor) ?? 0) + 1);
    assert.equal(body.greeted, seen.get(body.actor), `actor ${body.actor}'s own count`);
  }
  assert.ok([...seen.keys()].every((index) => index >= 0 && index < 4));
});

test('no route: 404; a known path with another method: 405 with Allow', async (t) => {
  const app = await hello(t);
  const missing = await app.request<ErrorBody>({ url: '/nope' });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'ACTORRT_E_NOT_FOUND');

  const wrongMethod = await app.request<ErrorBody>({ method: 'PUT', url: '/hello' });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.allow, 'GET, HEAD');
  assert.equal(wrongMethod.body.error.code, 'ACTORRT_E_METHOD_NOT_ALLOWED');
});

test('a body over http.limits.bodyBytes (64kb) is refused with 413 before any actor sees it', async (t) => {
  const app = await hello(t);
  const res = await app.request<ErrorBody>({ method: 'POST', url: '/events', body: { type: 'count', pad: 'x'.repeat(70_000) } });
  assert.equal(res.status, 413);
  assert.equal(res.body.error.code, 'ACTORRT_E_BODY_TOO_LARGE');
  assert.deepEqual((await app.request({ url: '/count' })).body, { count: 0 });
});
