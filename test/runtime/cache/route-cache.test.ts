import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Caches } from '../../../runtime/cache/caches.js';
import { compileKey, type KeySource } from '../../../runtime/cache/keys.js';
import { ResponseCache, type CacheRequest, type FillRequest, type RouteCachePolicy } from '../../../runtime/cache/route-cache.js';
import { ActorrtError } from '../../../runtime/errors.js';
import type { Reply } from '../../../runtime/reply.js';
import { eventually, load } from '../../helpers.js';

const silent = pino({ level: 'silent' });

/** A process's cache side with one memory store, no processes involved. */
function setup(): { cache: ResponseCache; caches: Caches } {
  const config = load(`version: 1
caches:
  m: { store: memory, maxEntries: 100 }
pools:
  api: { actor: ./actors/api.ts }
routes:
  - match: { method: GET, path: /items/:id }
    pool: api
`);
  const caches = new Caches(config, silent);
  return { cache: new ResponseCache(caches, silent), caches };
}

function policy(over: Partial<RouteCachePolicy> & { ttl?: number; staleWhileRevalidate?: number; staleIfError?: number; statuses?: number[] } = {}): RouteCachePolicy {
  const { ttl = 1000, staleWhileRevalidate = 0, staleIfError = 0, statuses = [200], ...rest } = over;
  return {
    route: 0, store: 'm', key: compileKey('item:{params.id}'), keyUsesBody: false, vary: [], allowNoCache: false,
    rules: { ttl, override: false, statuses, staleWhileRevalidate, staleIfError }, keep: 1000, fillTimeout: 1000, ...rest,
  };
}

function request(id = '1', headers: KeySource['headers'] = {}, method = 'GET'): CacheRequest {
  return { method, path: `/items/${id}`, url: `/items/${id}`, params: { id }, query: {}, headers, hasBody: false };
}

/** A fill that counts its runs and answers after `delay` ms (a slow actor: what the cache is for). */
function counter(delay = 0, reply: () => Reply = () => ({ status: 200, headers: {}, body: { n: runs.n } })): { fill: () => Promise<Reply> } {
  return {
    fill: async () => {
      runs.n++;
      if (delay > 0) await sleep(delay);
      return reply();
    },
  };
}
const runs = { n: 0 };

test('a miss fills and stores; the next request is a hit with Age', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  const first = await cache.serve(policy(), request(), counter().fill);
  const second = await cache.serve(policy(), request(), counter().fill);
  assert.equal(first.state, 'MISS');
  assert.equal(second.state, 'HIT');
  assert.equal(second.age, 0);
  assert.equal((second.reply.body as Buffer).toString(), '{"n":1}');
  assert.equal(runs.n, 1);
  assert.deepEqual(cache.stats(), [{ route: 0, store: 'm', hits: 1, misses: 1, stale: 0, bypass: 0 }]);
});

test('single flight: 100 concurrent misses on one key run the fill once', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  const outcomes = await Promise.all(Array.from({ length: 100 }, () => cache.serve(policy(), request('9'), counter(30).fill)));
  assert.equal(runs.n, 1);
  assert.ok(outcomes.every((o) => o.reply.status === 200 && (o.reply.body as Buffer).toString() === '{"n":1}'));
});

test('vary keeps one entry per header value', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  const p = policy({ vary: ['accept-language'] });
  await cache.serve(p, request('1', { 'accept-language': 'fr' }), counter().fill);
  await cache.serve(p, request('1', { 'accept-language': 'de' }), counter().fill);
  const fr = await cache.serve(p, request('1', { 'accept-language': 'fr' }), counter().fill);
  assert.equal(runs.n, 2);
  assert.equal(fr.state, 'HIT');
});

test('unstorable replies are answered but not stored', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  const cookie = counter(0, () => ({ status: 200, headers: { 'set-cookie': 'a=1' }, body: 'x' }));
  await cache.serve(policy(), request(), cookie.fill);
  const again = await cache.serve(policy(), request(), cookie.fill);
  assert.equal(again.state, 'MISS');
  assert.equal(runs.n, 2);
});

test('stale-while-revalidate serves the stale reply at once and refreshes it once in the background', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  const p = policy({ ttl: 150, staleWhileRevalidate: 5000 });
  await cache.serve(p, request(), counter().fill);
  await eventually('the entry is past its ttl', () => cache.hit(p, request()) === undefined, 5000);
  const stale = await Promise.all([1, 2, 3].map(() => cache.serve(p, request(), counter(20).fill)));
  assert.deepEqual(stale.map((o) => o.state), ['STALE', 'STALE', 'STALE']);
  assert.equal((stale[0]?.reply.body as Buffer).toString(), '{"n":1}');
  // Once the refresh has stored its reply, any other refresh those three serves started would have run.
  await eventually('the background refresh stored its reply', () => (cache.hit(p, request())?.reply.body as Buffer | undefined)?.toString() === '{"n":2}', 5000);
  assert.equal(runs.n, 2, 'one refresh for three stale serves');
  const fresh = await cache.serve(p, request(), counter().fill);
  assert.equal(fresh.state, 'HIT');
  assert.equal((fresh.reply.body as Buffer).toString(), '{"n":2}');
});

test('stale-if-error serves the stale reply when the fill throws or answers 5xx, within the window only', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  const p = policy({ ttl: 20, staleIfError: 1000 }); // a window no busy machine's pause outlasts between two lines
  const timedOut = (): Promise<Reply> => Promise.reject(new ActorrtError('ACTORRT_E_TIMEOUT', 'late'));
  await cache.serve(p, request(), counter().fill);
  await eventually('the entry is past its ttl', () => cache.hit(p, request()) === undefined, 5000);
  const thrown = await cache.serve(p, request(), timedOut);
  assert.equal(thrown.state, 'STALE');
  const five = await cache.serve(p, request(), () => Promise.resolve({ status: 503, headers: {}, body: 'down' }));
  assert.equal(five.state, 'STALE');
  assert.equal((five.reply.body as Buffer).toString(), '{"n":1}');
  // Past the window the fill's own error comes through (until then each try is served stale).
  let failure: unknown;
  await eventually('the stale-if-error window (1 s) ends', async () => {
    try {
      assert.equal((await cache.serve(p, request(), timedOut)).state, 'STALE', 'within the window: stale');
      return false;
    } catch (err) {
      failure = err;
      return true;
    }
  }, 5000);
  assert.ok(failure instanceof ActorrtError && failure.code === 'ACTORRT_E_TIMEOUT', `the fill's error: ${String(failure)}`);
});

test('a fill that started before an invalidation of its key does not store what it read', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache, caches } = setup();
  let release!: () => void;
  const reading = new Promise<void>((resolve) => { release = resolve; });
  const pending = cache.serve(policy(), request(), async () => {
    runs.n++;
    await reading; // the read is in progress until the invalidation is done
    return { status: 200, headers: {}, body: { n: runs.n } };
  });
  await eventually('the fill started', () => runs.n === 1);
  await caches.invalidate({ keys: ['item:1'], prefixes: [] });
  release();
  await pending;
  const next = await cache.serve(policy(), request(), counter().fill);
  assert.equal(next.state, 'MISS', 'the old read was not stored');
  assert.equal(runs.n, 2);
});

test('no-cache from the client bypasses the lookup only where the route allows it', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  await cache.serve(policy(), request(), counter().fill);
  const ignored = await cache.serve(policy(), request('1', { 'cache-control': 'no-cache' }), counter().fill);
  assert.equal(ignored.state, 'HIT');
  const honoured = await cache.serve(policy({ allowNoCache: true }), request('1', { 'cache-control': 'no-cache' }), counter().fill);
  assert.equal(honoured.state, 'BYPASS');
  assert.equal(runs.n, 2);
  const after = await cache.serve(policy(), request(), counter().fill);
  assert.equal((after.reply.body as Buffer).toString(), '{"n":2}', 'the bypass refreshed the entry');
});

test('a HEAD miss is filled with a GET (stored, so its length is the GET\'s), and later GETs and HEADs are hits', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  const methods: string[] = [];
  const fill = (how: FillRequest): Promise<Reply> => { methods.push(how.method); return counter().fill(); };
  const headMiss = await cache.serve(policy(), request('1', {}, 'HEAD'), fill);
  assert.equal(headMiss.state, 'MISS');
  assert.deepEqual(methods, ['GET'], 'the origin is asked with a GET (RFC 9110 section 9.3.2: a HEAD reply has the GET\'s length)');
  assert.equal(headMiss.entry?.body.toString(), '{"n":1}');
  const get = await cache.serve(policy(), request(), fill);
  assert.equal(get.state, 'HIT');
  const head = await cache.serve(policy(), request('1', {}, 'HEAD'), fill);
  assert.equal(head.state, 'HIT');
  assert.equal(runs.n, 1);
});

test('hit() answers a fresh memory entry without waiting, and leaves everything else to serve()', { timeout: 30_000 }, async () => {
  runs.n = 0;
  const { cache } = setup();
  assert.equal(cache.hit(policy(), request()), undefined, 'absent');
  await cache.serve(policy({ ttl: 300 }), request(), counter().fill);
  const fresh = cache.hit(policy(), request());
  assert.equal(fresh?.state, 'HIT');
  assert.equal((fresh?.reply.body as Buffer).toString(), '{"n":1}');
  assert.equal(cache.stats()[0]?.hits, 1, 'counted as a hit');
  assert.equal(cache.hit(policy({ allowNoCache: true }), request('1', { 'cache-control': 'no-cache' })), undefined, 'no-cache where allowed');
  await eventually('the entry is stale', () => cache.hit(policy(), request()) === undefined, 5000);
});
