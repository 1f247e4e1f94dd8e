import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ageOf, asksNoCache, entryState, fromStored, retention, toStored, unstorable } from '../../../runtime/cache/policy.js';
import { NO_HEADERS } from '../../../runtime/reply.js';

const windows = { ttl: 1000, staleWhileRevalidate: 500, staleIfError: 2000 };

test('replies with a listed status are stored; others, Set-Cookie, no-store and private are not', () => {
  assert.equal(unstorable({ status: 200, headers: NO_HEADERS, body: {} }, [200]), undefined);
  assert.match(unstorable({ status: 404, headers: NO_HEADERS, body: {} }, [200]) ?? '', /status 404/);
  assert.equal(unstorable({ status: 404, headers: NO_HEADERS, body: {} }, [200, 404]), undefined);
  assert.equal(unstorable({ status: 200, headers: { 'Set-Cookie': 'a=1' }, body: {} }, [200]), 'Set-Cookie');
  assert.equal(unstorable({ status: 200, headers: { 'cache-control': 'no-store' }, body: {} }, [200]), 'Cache-Control');
  assert.equal(unstorable({ status: 200, headers: { 'Cache-Control': 'private, max-age=60' }, body: {} }, [200]), 'Cache-Control');
  assert.equal(unstorable({ status: 200, headers: { 'cache-control': 'public, max-age=60' }, body: {} }, [200]), undefined);
});

test('a stored reply keeps its bytes and the headers that belong to it, not per-exchange ones', () => {
  const stored = toStored({ status: 200, headers: { 'X-Trace': 't', 'x-request-id': 'r1', Connection: 'close', 'content-length': '99' }, body: { a: 1 } }, 10_000, 1000);
  assert.equal(stored.body.toString(), '{"a":1}');
  assert.deepEqual(stored.headers, { 'x-trace': 't', 'content-type': 'application/json; charset=utf-8' });
  assert.equal(stored.freshUntil, 11_000);
  assert.deepEqual(fromStored(stored), { status: 200, headers: stored.headers, body: stored.body });
  assert.equal(toStored({ status: 200, headers: { 'Content-Type': 'text/csv' }, body: 'a,b' }, 0, 1).headers['content-type'], 'text/csv');
});

test('an entry is fresh for its ttl, then revalidated, then usable only on errors, then expired', () => {
  const entry = { freshUntil: 1000 };
  assert.equal(entryState(entry, windows, 999), 'fresh');
  assert.equal(entryState(entry, windows, 1000), 'revalidate');
  assert.equal(entryState(entry, windows, 1499), 'revalidate');
  assert.equal(entryState(entry, windows, 1500), 'stale-if-error');
  assert.equal(entryState(entry, windows, 2999), 'stale-if-error');
  assert.equal(entryState(entry, windows, 3000), 'expired');
  assert.equal(entryState(entry, { ttl: 1000, staleWhileRevalidate: 0, staleIfError: 0 }, 1000), 'expired');
  assert.equal(retention(windows), 3000, 'kept as long as the longer stale window needs it');
});

test('Cache-Control: no-cache or max-age=0 asks to skip the lookup', () => {
  assert.ok(asksNoCache('no-cache'));
  assert.ok(asksNoCache('max-age=0'));
  assert.ok(asksNoCache(['foo', 'No-Cache']));
  assert.ok(!asksNoCache('max-age=60'));
  assert.ok(!asksNoCache(undefined));
});

test('Age counts whole seconds since the reply was stored', () => {
  assert.equal(ageOf({ storedAt: 1000 }, 3999), 2);
  assert.equal(ageOf({ storedAt: 1000 }, 500), 0);
});
