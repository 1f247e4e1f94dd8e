import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../../runtime/cache/memory-store.js';
import { eventually } from '../../helpers.js';

function store(over: { maxEntries?: number; maxBytes?: number } = {}): MemoryStore {
  return new MemoryStore('m', { store: 'memory', maxEntries: over.maxEntries ?? 100, ttl: 1000, timeout: 50, ...(over.maxBytes === undefined ? {} : { maxBytes: over.maxBytes }) });
}

test('values come back as stored until their ttl passes', { timeout: 30_000 }, async () => {
  const s = store();
  await s.set('a', { n: 1 }, 40);
  assert.deepEqual(await s.get('a'), { n: 1 });
  await eventually('the 40 ms entry expired', async () => (await s.get('a')) === undefined, 5000);
});

test('maxEntries keeps the most recently used entries', { timeout: 30_000 }, async () => {
  const s = store({ maxEntries: 3 });
  for (const k of ['a', 'b', 'c']) await s.set(k, k, 10_000);
  await s.get('a'); // a is now the most recently used
  await s.set('d', 'd', 10_000);
  assert.equal(await s.get('b'), undefined, 'the least recently used went first');
  assert.deepEqual([await s.get('a'), await s.get('c'), await s.get('d')], ['a', 'c', 'd']);
  assert.equal(s.stats().entries, 3);
});

test('maxBytes bounds the bytes held, counting bodies of stored replies', { timeout: 30_000 }, async () => {
  const s = store({ maxBytes: 4096 });
  for (let i = 0; i < 10; i++) await s.set(`k${i}`, { kind: 'reply', body: Buffer.alloc(1000), headers: {} }, 10_000);
  const stats = s.stats();
  assert.ok((stats.bytes ?? Infinity) <= 4096, `held ${String(stats.bytes)} bytes`);
  assert.ok((stats.entries ?? 0) >= 3 && (stats.entries ?? 0) < 10, `held ${String(stats.entries)} entries`);
  assert.notEqual(await s.get('k9'), undefined, 'the newest entry is kept');
  assert.equal(await s.get('k0'), undefined, 'the oldest went first');
  await s.set('huge', { kind: 'reply', body: Buffer.alloc(10_000), headers: {} }, 10_000);
  assert.equal(await s.get('huge'), undefined, 'an entry larger than the whole bound is not kept');
});

test('delete takes exact keys with their vary variants (where a route varies), and prefixes', { timeout: 30_000 }, async () => {
  const s = store();
  for (const k of ['user:1', 'user:1#accept-language=fr', 'user:10', 'users:p1', 'users:p2', 'other']) await s.set(k, k, 10_000);
  await s.delete({ keys: ['user:1'], prefixes: [] }, false);
  assert.equal(await s.get('user:1'), undefined);
  assert.equal(await s.get('user:1#accept-language=fr'), 'user:1#accept-language=fr', 'no route varies: no variants looked for');
  await s.delete({ keys: ['user:1'], prefixes: ['users:'] }, true);
  assert.deepEqual(await Promise.all(['user:1', 'user:1#accept-language=fr', 'user:10', 'users:p1', 'users:p2', 'other'].map((k) => s.get(k))),
    [undefined, undefined, 'user:10', undefined, undefined, 'other']);
});

test('while cut off from the bus (maxAge set), entries stored longer ago are misses for get and peek; newer ones and lifting it serve again', { timeout: 30_000 }, async () => {
  const s = store();
  await s.set('old', 'o', 60_000);
  await eventually('the old entry is at least 30 ms old', async () => {
    s.maxAge = 20;
    return (await s.get('old')) === undefined;
  }, 5000);
  assert.equal(s.peek('old'), undefined);
  await s.set('new', 'n', 60_000);
  assert.equal(await s.get('new'), 'n', 'an entry stored while cut off is served until it is maxAge old');
  assert.equal(s.peek('new'), 'n');
  s.maxAge = undefined;
  assert.equal(await s.get('old'), 'o', 'the entry was kept: only serving it was held back');
});
