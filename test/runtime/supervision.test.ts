import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRONT } from '../../runtime/primary/processes.js';
import { vitalLimits } from '../../runtime/primary/watchdog.js';
import { judge } from '../../runtime/supervision/liveness.js';
import { load } from '../helpers.js';
import { backoffDelay, decide, decideKeepServing, prune, type RestartPolicy } from '../../runtime/supervision/policy.js';

const policy = (over: Partial<RestartPolicy> = {}): RestartPolicy => ({
  strategy: 'one-for-one', maxRestarts: 3, within: 5000, backoff: { min: 100, max: 1000 }, ...over,
});

test('restarts only the failed actor under one-for-one, the first time without delay', () => {
  assert.deepEqual(decide(policy(), [], 10_000, 0.5), { action: 'restart-one', delay: 0, count: 1 });
});

test('restarts every actor of the pool under one-for-all', () => {
  assert.equal(decide(policy({ strategy: 'one-for-all' }), [], 10_000).action, 'restart-all');
});

test('escalates once restarts within the window exceed maxRestarts', () => {
  const d = decide(policy(), [9000, 9500, 9900], 10_000);
  assert.equal(d.action, 'escalate');
  assert.equal(d.count, 4);
  assert.match(d.action === 'escalate' ? d.reason : '', /more than 3 restarts within 5000 ms/);
});

test('forgets restarts older than the window', () => {
  assert.equal(decide(policy(), [1000, 2000, 3000], 10_000).action, 'restart-one');
});

test('stop and escalate strategies never restart', () => {
  assert.equal(decide(policy({ strategy: 'stop' }), [], 0).action, 'stop');
  assert.equal(decide(policy({ strategy: 'escalate' }), [], 0).action, 'escalate');
});

test('a maxRestarts of zero escalates on the first failure', () => {
  assert.equal(decide(policy({ maxRestarts: 0 }), [], 0).action, 'escalate');
});

test('backs off exponentially between restarts, with jitter, up to the maximum', () => {
  const b = { min: 100, max: 1000 };
  assert.equal(backoffDelay(b, 0, 0.9), 0);
  assert.equal(backoffDelay(b, 1, 0), 50);
  assert.equal(backoffDelay(b, 1, 1), 100);
  assert.equal(backoffDelay(b, 2, 1), 200);
  assert.equal(backoffDelay(b, 3, 1), 400);
  assert.equal(backoffDelay(b, 10, 1), 1000);
  assert.equal(backoffDelay(b, 10, 0), 500);
  const d = decide(policy(), [9900], 10_000, 1);
  assert.deepEqual(d, { action: 'restart-one', delay: 100, count: 2 });
});

test('prune drops entries that fell out of the window, in place', () => {
  const h = [1, 2, 9000, 9500];
  prune(h, 10_000, 5000);
  assert.deepEqual(h, [9000, 9500]);
});

test('front workers: one that served and died is always restarted, with backoff growing within the window and reset after it', () => {
  const p = policy({ maxRestarts: 2, within: 10_000, backoff: { min: 100, max: 1000 } });
  const many = Array.from({ length: 20 }, (_, i) => 9000 + i * 10);
  const d = decideKeepServing(p, many, 10_000, 0, 0.5);
  assert.equal(d.action, 'restart-one', 'twenty kills within the window do not give up');
  assert.equal((d as { delay: number }).delay, 750, 'capped backoff (max 1000, equal jitter at 0.5)');
  assert.deepEqual(decideKeepServing(p, many, 40_000, 0, 0.5), { action: 'restart-one', delay: 0, count: 1 }, 'healthy for a window: immediate again');
});

test('front workers: only starts that fail in a row lead to giving up', () => {
  const p = policy({ maxRestarts: 2 });
  assert.equal(decideKeepServing(p, [], 10_000, 2).action, 'restart-one');
  const d = decideKeepServing(p, [], 10_000, 3);
  assert.equal(d.action, 'escalate');
  assert.match((d as { reason: string }).reason, /3 starts in a row failed/);
});

test('the watchdog: silence past the limit kills, memory past maxRss recycles, 0 turns silence checks off', () => {
  const limits = { watchdog: 3000, maxRss: 100 };
  assert.deepEqual(judge({ lastAlive: 10_000, rss: 50 }, limits, 12_000), { action: 'none' });
  assert.deepEqual(judge({ lastAlive: 10_000, rss: 50 }, limits, 13_001), { action: 'kill', silentFor: 3001 });
  assert.deepEqual(judge({ lastAlive: 10_000, rss: 150 }, limits, 13_001), { action: 'kill', silentFor: 3001 }, 'a hung process cannot drain: kill wins');
  assert.deepEqual(judge({ lastAlive: 10_000, rss: 150 }, limits, 11_000), { action: 'recycle', rss: 150 });
  assert.deepEqual(judge({ lastAlive: 0, rss: 150 }, { watchdog: 0, maxRss: undefined }, 1e9), { action: 'none' });
});

test('watchdog limits: front workers follow http, isolated pools their own settings or http.watchdog', () => {
  const config = load(`version: 1\nhttp: { watchdog: 4s, maxRss: 1gb }\npools:\n  api:\n    actor: ./actors/api.ts\n  iso:\n    actor: ./actors/api.ts\n    processes: 1\n    maxRss: 200mb\n  iso2:\n    actor: ./actors/api.ts\n    processes: 1\n    watchdog: 0\nroutes:\n  - match: { path: /x }\n    pool: api\n`);
  assert.deepEqual(vitalLimits(config, FRONT), { watchdog: 4000, maxRss: 1024 ** 3 });
  assert.deepEqual(vitalLimits(config, 'iso'), { watchdog: 4000, maxRss: 200 * 1024 ** 2 });
  assert.deepEqual(vitalLimits(config, 'iso2'), { watchdog: 0, maxRss: undefined });
});
