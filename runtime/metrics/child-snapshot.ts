import type { CacheStats, MetricSeries, MetricsSnapshot, PoolLoad } from '../protocol/shapes.js';

/** What a child process reports on a scrape, from the same loads and cache counts `actorrt status` reads. */
export interface ChildCounts {
  readonly loads: readonly PoolLoad[];
  readonly caches: CacheStats;
  /** The route pattern of a route index (cache counts are kept by index). */
  routePattern(index: number): string;
  /** The front worker's request counts; the process's own vitals. */
  readonly parts: readonly MetricsSnapshot[];
}

/** One process's metrics: pool load and caches as gauges and counters, plus what `parts` counted. */
export function childSnapshot(counts: ChildCounts): MetricsSnapshot {
  const { loads, caches } = counts;
  const perPool = (value: (l: PoolLoad) => number): MetricSeries[] => loads.map((l) => ({ labels: [l.pool], value: value(l) }));
  const memory = caches.stores.filter((s) => s.kind === 'memory');
  const lookups: MetricSeries[] = caches.routes.flatMap((r) => {
    const route = counts.routePattern(r.route);
    return ([['hit', r.hits], ['miss', r.misses], ['stale', r.stale], ['bypass', r.bypass]] as const)
      .map(([result, value]) => ({ labels: [r.store, route, result], value }));
  });
  const own: MetricsSnapshot = {
    actorrt_pool_requests_in_flight: perPool((l) => l.depth),
    actorrt_pool_mailbox_messages: perPool((l) => Math.max(0, l.depth - l.busy)),
    actorrt_pool_actors_busy: perPool((l) => l.busy),
    actorrt_pool_actors_running: perPool((l) => l.actors),
    actorrt_cache_lookups_total: lookups,
    actorrt_cache_store_errors_total: caches.stores.map((s) => ({ labels: [s.name], value: s.errors })),
    actorrt_cache_entries: memory.map((s) => ({ labels: [s.name], value: s.entries ?? 0 })),
    actorrt_cache_size_bytes: memory.map((s) => ({ labels: [s.name], value: s.bytes ?? 0 })),
    actorrt_cache_store_up: caches.stores.map((s) => ({ labels: [s.name], value: s.available ? 1 : 0 })),
  };
  const out: Record<string, readonly MetricSeries[]> = { ...own };
  for (const part of counts.parts) Object.assign(out, part);
  return out;
}
