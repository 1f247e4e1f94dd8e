import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ErrorBody, RedisClient } from 'actorrt';
import { startTopology, type TestTopology } from 'actorrt/testing';

/**
 * The items pool stores in Redis, which every instance shares. Here a stand-in client takes its
 * place (`clients`: the actor gets this object as ctx.resources.redis) and the Redis cache store
 * runs in memory (`caches: 'memory'`), so the test needs no Redis server. What is about several
 * instances (the invalidation bus, nginx in front) is tested through the CLI, not here.
 */
const stored = new Map<string, string>();
const redis = {
  get: async (key: string) => stored.get(key) ?? null,
  set: async (key: string, value: string) => { stored.set(key, value); return 'OK'; },
} as unknown as RedisClient; // the two calls the actor makes

let app: TestTopology | undefined;
before(async () => {
  app = await startTopology(new URL('../actorrt.yml', import.meta.url), { clients: { redis }, caches: 'memory' });
});
after(() => app?.close());

function items(): TestTopology {
  assert.ok(app, 'the topology started');
  return app;
}

test('PUT stores an item, GET reads it through the memory cache, and a PUT invalidates it', async () => {
  assert.deepEqual((await items().request({ method: 'PUT', url: '/items/7', body: { name: 'lamp' } })).body, { saved: '7' });
  const first = await items().request<{ id: string; value: unknown }>({ url: '/items/7' });
  assert.equal(first.headers['x-cache'], 'MISS');
  assert.deepEqual(first.body, { id: '7', value: { name: 'lamp' } });
  assert.equal((await items().request({ url: '/items/7' })).headers['x-cache'], 'HIT');
  await items().request({ method: 'PUT', url: '/items/7', body: { name: 'desk' } });
  const fresh = await items().request<{ value: unknown }>({ url: '/items/7' });
  assert.equal(fresh.headers['x-cache'], 'MISS');
  assert.deepEqual(fresh.body.value, { name: 'desk' });
});

test('the shared route caches in its own store; an unknown item is 404, a body that is not JSON 400', async () => {
  await items().request({ method: 'PUT', url: '/items/8', body: [1, 2] });
  assert.equal((await items().request({ url: '/shared/items/8' })).headers['x-cache'], 'MISS');
  assert.equal((await items().request({ url: '/shared/items/8' })).headers['x-cache'], 'HIT');
  const missing = await items().request<ErrorBody>({ url: '/items/none' });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'NOT_FOUND');
  const bad = await items().request<ErrorBody>({ method: 'PUT', url: '/items/9', headers: { 'content-type': 'text/plain' }, body: 'lamp' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'BAD_ITEM');
});

test('the greeter pool runs the hello example\'s actor module (a path outside this folder)', async () => {
  const greeted = await items().request<{ hello: string; greeted: number }>({ url: '/hello/nginx' });
  assert.equal(greeted.status, 200);
  assert.equal(greeted.body.hello, 'nginx');
});
