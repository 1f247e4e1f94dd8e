import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { createClient } from '@keyv/redis';
import { pino } from 'pino';
import { Relay } from '../../../bench/relay.js';
import { RedisStore } from '../../../runtime/cache/redis-store.js';
import { eventually, within } from '../../helpers.js';

// Needs the real Redis on 127.0.0.1:6379 (.ci/run starts it); never skipped.
const URL = 'redis://127.0.0.1:6379';
const silent = pino({ level: 'silent' });
const admin = createClient({ url: URL });
await admin.connect();
const opened: RedisStore[] = [];
const namespaces: string[] = [];
after(async () => {
  await Promise.all(opened.map((s) => s.close()));
  for (const ns of namespaces) {
    for await (const keys of admin.scanIterator({ MATCH: `*${ns}*` })) if (keys.length > 0) await admin.unlink(keys);
  }
  await admin.close();
});

function store(over: { url?: string; keyPrefix?: string; timeout?: number } = {}): { s: RedisStore; ns: string } {
  const ns = `actorrt-test-${randomUUID()}`;
  namespaces.push(ns);
  const s = new RedisStore('shared', { store: 'redis', resource: 'redis', namespace: ns, ttl: 60_000, timeout: over.timeout ?? 50 },
    { type: 'redis', url: over.url ?? URL, connectTimeout: 500, startup: { retries: 0, delay: 0 }, ...(over.keyPrefix === undefined ? {} : { keyPrefix: over.keyPrefix }) }, silent);
  opened.push(s);
  return { s, ns };
}

test('values round-trip through Redis under <keyPrefix><namespace>:<key>, Buffers included, with their ttl', { timeout: 30_000 }, async () => {
  const { s, ns } = store({ keyPrefix: 'app1/' });
  await s.ready(2000);
  await s.set('user:1', { kind: 'reply', body: Buffer.from('héllo'), n: 1 }, 10_000);
  const back = await s.get('user:1') as { body: Buffer; n: number };
  assert.ok(Buffer.isBuffer(back.body));
  assert.equal(back.body.toString(), 'héllo');
  assert.equal(back.n, 1);
  const ttl = await admin.pTTL(`app1/${ns}:user:1`);
  assert.ok(ttl > 0 && ttl <= 10_000, `ttl ${ttl}`);
});

test('stored replies are plain JSON in Redis (Buffer bodies as base64); entries in keyv\'s format, as an older actorrt wrote them, still read', { timeout: 30_000 }, async () => {
  const { s, ns } = store();
  await s.ready(2000);
  const reply = {
    kind: 'reply', status: 200, headers: { 'content-type': 'application/json', etag: '":x"' }, body: ':{"a":1}', storedAt: 1, freshUntil: 2, initialAge: 0,
    staleWhileRevalidate: 0, staleIfError: 0, noCache: false,
  };
  await s.set('text', reply, 10_000);
  const raw = await admin.get(`${ns}:text`);
  assert.ok(raw?.startsWith('{"reply":'), `stored as ${String(raw)}`);
  assert.deepEqual(JSON.parse(raw ?? '').reply, reply, 'one JSON.parse gives the reply back, strings as they are');
  assert.deepEqual(await s.get('text'), reply);
  await s.set('bytes', { ...reply, body: Buffer.from([0, 255, 1]) }, 10_000);
  const bytes = await s.get('bytes') as { body: Buffer };
  assert.ok(Buffer.isBuffer(bytes.body) && bytes.body.equals(Buffer.from([0, 255, 1])));
  assert.equal('base64' in bytes, false);
  // keyv's own format (@keyv/serialize: a string starting with ':' gets another, Buffers are ':base64:'), as written before.
  await admin.set(`${ns}:old`, JSON.stringify({ value: { ...reply, body: '::{"a":1}', headers: { 'x-colon': '::y' } }, expires: null }));
  await admin.set(`${ns}:old-bytes`, JSON.stringify({ value: { ...reply, body: ':base64:AP8B' }, expires: null }));
  assert.deepEqual(await s.get('old'), { ...reply, headers: { 'x-colon': ':y' } });
  assert.ok(((await s.get('old-bytes')) as { body: Buffer }).body.equals(Buffer.from([0, 255, 1])));
  await s.set('actor-data', { n: ':colon', b: Buffer.from('x') }, 10_000);
  assert.ok((await admin.get(`${ns}:actor-data`))?.startsWith('{"value":'), 'what is not a stored reply keeps keyv\'s format');
  assert.deepEqual(await s.get('actor-data'), { n: ':colon', b: Buffer.from('x') });
});

test('delete removes exact keys with their vary variants and prefixes (SCAN), nothing else', { timeout: 30_000 }, async () => {
  const { s, ns } = store();
  await s.ready(2000);
  const keys = ['user:1', 'user:1#accept-language=fr', 'user:10', 'users:p1', 'users:p2', 'other', 'odd*[key]'];
  for (const k of keys) await s.set(k, k, 60_000);
  await admin.set(`${ns}-neighbour:users:p1`, 'x'); // another namespace that starts alike
  await s.delete({ keys: ['user:1'], prefixes: ['users:', 'odd*['] }, true);
  assert.deepEqual(await Promise.all(keys.map((k) => s.get(k))), [undefined, undefined, 'user:10', undefined, undefined, 'other', undefined]);
  assert.equal(await admin.get(`${ns}-neighbour:users:p1`), 'x');
  await admin.del(`${ns}-neighbour:users:p1`);
});

test('the fill lock is taken once, seen by others, and released only by its holder', { timeout: 30_000 }, async () => {
  const { s } = store();
  await s.ready(2000);
  const first = await s.lock('k', 5000);
  const second = await s.lock('k', 5000);
  assert.equal(first.state, 'held');
  assert.equal(second.state, 'busy');
  assert.ok(await s.locked('k'));
  await second.release();
  assert.ok(await s.locked('k'), 'a waiter cannot release the holder\'s lock');
  await first.release();
  assert.ok(!(await s.locked('k')));
});

test('an unreachable Redis reads as a miss at once and drops writes; start-up waits at most its bound', { timeout: 30_000 }, async () => {
  const { s } = store({ url: 'redis://127.0.0.1:1' });
  await within('ready(300) giving up on an unreachable Redis', s.ready(300), 10_000);
  await s.set('k', 'v', 1000);
  assert.equal(await s.get('k'), undefined);
  assert.equal((await s.lock('k', 1000)).state, 'unavailable');
  assert.equal(s.stats().available, false);
});

test('a paused Redis costs at most the store timeout, then reads as a miss; it recovers by itself', { timeout: 30_000 }, async (t) => {
  // Paused behind a relay of its own (the shared server stays untouched for tests running beside this one).
  const relay = Relay.for(URL);
  await relay.open();
  t.after(() => relay.cut());
  const { s } = store({ timeout: 50, url: relay.url(URL) });
  await s.ready(2000);
  await s.set('k', 'v', 60_000);
  relay.freeze();
  try {
    // A read held by Redis would wait until the thaw below: it must come back a miss while Redis is still paused.
    assert.equal(await within('a read while Redis is paused', s.get('k'), 10_000, 'held by the paused Redis'), undefined);
    assert.equal(s.stats().available, false);
    assert.ok(s.stats().errors >= 1);
  } finally {
    relay.thaw();
  }
  await eventually('the store answers again after the pause', async () => (await s.get('k')) === 'v', 10_000);
});
