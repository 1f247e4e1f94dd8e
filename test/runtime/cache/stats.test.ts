import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarizeCaches } from '../../../runtime/cache/stats.js';

test('cache status sums every process: counts, entries, errors, hit rate', () => {
  const perProcess = [
    { stores: [{ name: 'm', kind: 'memory' as const, entries: 3, errors: 0, available: true }], routes: [{ route: 0, store: 'm', hits: 6, misses: 2, stale: 0, bypass: 0 }] },
    { stores: [{ name: 'm', kind: 'memory' as const, entries: 2, errors: 1, available: true }], routes: [{ route: 0, store: 'm', hits: 1, misses: 1, stale: 2, bypass: 1 }] },
  ];
  const [m, r] = summarizeCaches(['m', 'r'], perProcess);
  assert.deepEqual(m, {
    name: 'm', kind: 'memory', hits: 7, stale: 2, misses: 3, bypass: 1, hitRate: 0.75, entries: 5, errors: 1, available: true,
    routes: [{ route: 0, hits: 7, misses: 3, stale: 2, bypass: 1 }],
  });
  assert.equal(r?.hitRate, undefined, 'no lookups, no rate');
});
