import type { CacheStats, RouteCacheCounts } from '../protocol/shapes.js';

/** One cache store over every process, as `actorrt status` shows it. */
export interface CacheStatus {
  readonly name: string;
  readonly kind: 'memory' | 'redis';
  /** Lookups answered from the store (fresh), served stale, missed, and skipped on request (no-cache). */
  readonly hits: number;
  readonly stale: number;
  readonly misses: number;
  readonly bypass: number;
  /** (hits + stale) / lookups; undefined before the first lookup. */
  readonly hitRate?: number;
  /** Memory stores: entries over every process (each process has its own). */
  readonly entries?: number;
  /** Operations that failed or ran late, over every process. */
  readonly errors: number;
  /** Redis stores: false when any process finds it unreachable or degraded now. */
  readonly available: boolean;
  /** The cached routes using this store, by route index. */
  readonly routes: readonly Omit<RouteCacheCounts, 'store'>[];
}

/** Sum what each process reported into one line per store (declaration order). */
export function summarizeCaches(names: readonly string[], reports: readonly CacheStats[]): CacheStatus[] {
  return names.map((name): CacheStatus => {
    const stores = reports.flatMap((r) => r.stores.filter((s) => s.name === name));
    const routes = new Map<number, Omit<RouteCacheCounts, 'store'>>();
    for (const c of reports.flatMap((r) => r.routes.filter((x) => x.store === name))) {
      const sum = routes.get(c.route) ?? { route: c.route, hits: 0, misses: 0, stale: 0, bypass: 0 };
      routes.set(c.route, { route: c.route, hits: sum.hits + c.hits, misses: sum.misses + c.misses, stale: sum.stale + c.stale, bypass: sum.bypass + c.bypass });
    }
    const all = [...routes.values()];
    const total = (k: 'hits' | 'misses' | 'stale' | 'bypass'): number => all.reduce((n, r) => n + r[k], 0);
    const hits = total('hits');
    const stale = total('stale');
    const lookups = hits + stale + total('misses');
    const kind = stores[0]?.kind ?? 'memory';
    const entries = kind === 'memory' ? stores.reduce((n, s) => n + (s.entries ?? 0), 0) : undefined;
    return {
      name, kind, hits, stale, misses: total('misses'), bypass: total('bypass'),
      ...(lookups === 0 ? {} : { hitRate: (hits + stale) / lookups }),
      ...(entries === undefined ? {} : { entries }),
      errors: stores.reduce((n, s) => n + s.errors, 0),
      available: stores.every((s) => s.available),
      routes: all.sort((a, b) => a.route - b.route),
    };
  });
}
