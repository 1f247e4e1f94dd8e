import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeView, counterIncrease, histogramQuantile, type PoolRow, type TopView } from '../../../runtime/top/rates.js';
import { merge, processFamilies, requests, sampleAt, statusOf, type RawFamilies } from './samples.js';

const pool = (view: TopView, name: string): PoolRow => {
  const row = view.pools.find((p) => p.name === name);
  assert.ok(row, `a row for ${name} in ${view.pools.map((p) => p.name).join(', ')}`);
  return row;
};

/** Every number of a view: none may be NaN, infinite or negative, whatever came and went between the samples. */
function assertSaneNumbers(value: unknown, path = 'view'): void {
  if (typeof value === 'number') {
    assert.ok(Number.isFinite(value) && value >= 0, `${path} is ${value}`);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) assertSaneNumbers(v, `${path}.${k}`);
}

test('req/s per pool sums every series of the pool over the seconds between the samples; errors/s counts only 5xx', () => {
  const before = sampleAt(10, merge(requests('api', 200, 100), requests('api', 404, 5), requests('cpu', 200, 10)));
  const after = sampleAt(12, merge(
    requests('api', 200, 300), requests('api', 404, 9),
    requests('api', 503, 6), // a series born during the interval: counted from 0
    requests('api', 499, 2), // the client left: not the pool's error
    requests('cpu', 200, 50),
  ));
  const view = computeView(before, after);
  assert.equal(view.interval, 2);
  assert.equal(pool(view, 'api').requestRate, (200 + 4 + 6 + 2) / 2);
  assert.equal(pool(view, 'api').errorRate, 6 / 2);
  assert.equal(pool(view, 'cpu').requestRate, 40 / 2);
  assert.equal(pool(view, 'cpu').errorRate, 0);
  assert.equal(view.requestRate, (212 + 40) / 2);
});

test('the first frame has no rates, only the state: every rate and quantile is undefined, never 0 nor NaN', () => {
  const view = computeView(undefined, sampleAt(5, merge(requests('api', 200, 100), processFamilies('front', '', 0, 101, 3, 1e8, 0.002))));
  assert.equal(view.interval, undefined);
  assert.equal(view.requestRate, undefined);
  assert.equal(pool(view, 'api').requestRate, undefined);
  assert.equal(pool(view, 'api').p99, undefined);
  assert.equal(view.processes[0]?.cpu, undefined);
  assert.equal(view.processes[0]?.rss, 1e8);
});

test('two samples taken at the same moment give no rates rather than a division by zero', () => {
  const families = requests('api', 200, 100);
  const view = computeView(sampleAt(5, families), sampleAt(5, families));
  assert.equal(view.interval, undefined);
  assert.equal(pool(view, 'api').requestRate, undefined);
});

test('CPU % per process; a process that appeared between the samples has none yet, one that disappeared has no row', () => {
  const before = sampleAt(0, merge(
    processFamilies('primary', '', 0, 100, 1.0, 5e7, 0.001),
    processFamilies('pool', 'cpu', 0, 201, 10.0, 6e7, 0.004), // replaced during the interval
  ));
  const after = sampleAt(2, merge(
    processFamilies('primary', '', 0, 100, 1.5, 5e7, 0.001),
    processFamilies('pool', 'cpu', 0, 202, 0.8, 4e7, 0.003), // its successor, same index, new pid
  ));
  const view = computeView(before, after);
  assert.deepEqual(view.processes.map((p) => [p.role, p.pool, p.index, p.pid]), [['primary', '', 0, 100], ['pool', 'cpu', 0, 202]]);
  assert.equal(view.processes[0]?.cpu, 0.25);
  assert.equal(view.processes[1]?.cpu, undefined, 'the new process used CPU before we saw it: no rate rather than 40%');
  assertSaneNumbers(view);
});

test('a process that does not answer the scrape is shown with its last values and up false', () => {
  const view = computeView(undefined, sampleAt(0, processFamilies('front', '', 1, 102, 2, 7e7, 0.5, 0)));
  assert.equal(view.processes[0]?.up, false);
  assert.equal(view.processes[0]?.lagP99, 0.5);
});

test('a counter lower than before counts as a reset (Prometheus rate()): its whole value is the increase, never negative', () => {
  assert.equal(counterIncrease(10, 25), 15);
  assert.equal(counterIncrease(10, 4), 4);
  const view = computeView(sampleAt(0, requests('api', 200, 500)), sampleAt(1, requests('api', 200, 30)));
  assert.equal(pool(view, 'api').requestRate, 30);
  assertSaneNumbers(view);
});

test('histogramQuantile interpolates within the bucket holding the rank, as Prometheus does', () => {
  const buckets = [{ le: 0.1, count: 50 }, { le: 0.2, count: 80 }, { le: 0.5, count: 100 }, { le: Infinity, count: 100 }];
  assert.equal(histogramQuantile(0.5, buckets), 0.1); // rank 50: the whole first bucket, from 0
  assert.equal(histogramQuantile(0.25, buckets), 0.05); // rank 25 of 50 in [0, 0.1]
  assert.ok(Math.abs((histogramQuantile(0.9, buckets) ?? 0) - 0.35) < 1e-12); // rank 90: 10 of 20 in [0.2, 0.5]
  // Order of the buckets does not matter; a rank in +Inf answers the highest finite bound.
  assert.equal(histogramQuantile(0.99, [{ le: Infinity, count: 100 }, { le: 0.1, count: 10 }]), 0.1);
  // Counts that decrease along le (summed from series read at different moments) are made monotonic first.
  assert.equal(histogramQuantile(0.5, [{ le: 0.1, count: 60 }, { le: 0.2, count: 40 }, { le: Infinity, count: 100 }]), 0.1 * (50 / 60));
});

test('histogramQuantile is undefined without observations or without the +Inf bucket (Prometheus: NaN)', () => {
  assert.equal(histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }]), undefined);
  assert.equal(histogramQuantile(0.5, [{ le: 0.1, count: 5 }, { le: 0.2, count: 9 }]), undefined);
  assert.equal(histogramQuantile(0.5, []), undefined);
});

test('p50 / p99 describe the last interval only: from the increase of each bucket, summed over the pool\'s series', () => {
  // Before: 1000 fast requests. During the interval: 90 more in (0.05, 0.075] and, on another series, 10 in (0.5, 0.75].
  const before = sampleAt(0, requests('api', 200, { '0.005': 1000 }));
  const after = sampleAt(1, merge(requests('api', 200, { '0.005': 1000, '0.075': 90 }), requests('api', 201, { '0.75': 10 }, '/y')));
  const view = computeView(before, after);
  const p50 = pool(view, 'api').p50 ?? NaN;
  const p99 = pool(view, 'api').p99 ?? NaN;
  // Rank 50 of 100 is the 50th of the 90 in (0.05, 0.075]; rank 99 the 9th of the 10 in (0.5, 0.75].
  assert.ok(Math.abs(p50 - (0.05 + 0.025 * (50 / 90))) < 1e-12, `p50 ${p50}`);
  assert.ok(Math.abs(p99 - (0.5 + 0.25 * (9 / 10))) < 1e-12, `p99 ${p99}`);
});

test('pool rows keep the topology order with size, processes, in flight, queue and restarts; proxies and the front actor get rows of their own', () => {
  const gauges: RawFamilies = {
    actorrt_pool_size: ['gauge', [{ labels: { pool: 'api' }, value: 4 }, { labels: { pool: 'cpu' }, value: 1 }]],
    actorrt_pool_processes: ['gauge', [{ labels: { pool: 'api' }, value: 0 }, { labels: { pool: 'cpu' }, value: 2 }]],
    actorrt_pool_processes_running: ['gauge', [{ labels: { pool: 'api' }, value: 0 }, { labels: { pool: 'cpu' }, value: 1 }]],
    actorrt_pool_requests_in_flight: ['gauge', [{ labels: { pool: 'cpu' }, value: 7 }]],
    actorrt_pool_mailbox_messages: ['gauge', [{ labels: { pool: 'cpu' }, value: 5 }]],
    actorrt_pool_restarts_total: ['counter', [{ labels: { pool: 'cpu', level: 'actor' }, value: 2 }, { labels: { pool: 'cpu', level: 'process' }, value: 1 }]],
  };
  const view = computeView(undefined, sampleAt(0, merge(gauges, requests('users', 200, 3), requests('', 404, 1))));
  assert.deepEqual(view.pools.map((p) => [p.name, p.kind]), [['api', 'inline'], ['cpu', 'isolated'], ['(front)', 'front'], ['users', 'proxy']]);
  const cpu = pool(view, 'cpu');
  assert.deepEqual([cpu.size, cpu.processes, cpu.inFlight, cpu.queue, cpu.restarts], [1, { running: 1, configured: 2 }, 7, 5, 3]);
  assert.deepEqual(pool(view, 'api').processes, { running: 2, configured: 2 }, 'an inline pool runs in every front worker');
});

test('cache hit rates: over the interval and since start, (hit + stale) / (hit + stale + miss), bypassed lookups left out', () => {
  const lookups = (hit: number, stale: number, miss: number, bypass: number): RawFamilies => ({
    actorrt_cache_lookups_total: ['counter', [
      { labels: { store: 'local', route: '/a', result: 'hit' }, value: hit },
      { labels: { store: 'local', route: '/a', result: 'stale' }, value: stale },
      { labels: { store: 'local', route: '/a', result: 'miss' }, value: miss },
      { labels: { store: 'local', route: '/a', result: 'bypass' }, value: bypass },
    ]],
    actorrt_cache_entries: ['gauge', [{ labels: { store: 'local' }, value: 42 }]],
  });
  const view = computeView(sampleAt(0, lookups(10, 0, 10, 3)), sampleAt(2, lookups(28, 2, 10, 50)));
  const [local] = view.caches;
  assert.equal(local?.name, 'local');
  assert.equal(local?.hitRate, 1);
  assert.equal(local?.hitRateTotal, 30 / 40);
  assert.equal(local?.lookupRate, 10);
  assert.equal(local?.entries, 42);
  const idle = computeView(sampleAt(0, lookups(1, 0, 1, 0)), sampleAt(1, lookups(1, 0, 1, 0))).caches[0];
  assert.equal(idle?.hitRate, undefined, 'no lookups in the interval: no rate rather than 0%');
  assert.equal(idle?.lookupRate, 0);
});

test('the view carries the status it came with: header figures and the last reload', () => {
  const lastReload = { trigger: 'file' as const, at: '2025-01-01T00:00:00.000Z', ok: true, applied: true, dryRun: false, plan: ['pool api: size 4 -> 8'] };
  const view = computeView(undefined, sampleAt(0, {}, statusOf({ lastReload })));
  assert.deepEqual(view.lastReload, lastReload);
  assert.equal(view.status.uptime, 3725);
});
