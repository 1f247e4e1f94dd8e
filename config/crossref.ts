import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { ErrorCode } from '../runtime/errors.js';
import type { ConfigIssue } from './errors.js';
import { didYouMean } from './hints.js';
import { parseKeyTemplate } from './key-template.js';
import type { LoadedDocument, PathSegment } from './load.js';
import { parsePathPattern } from './route-path.js';
import { pathLabel } from './schema-errors.js';
import { trustEntryProblem } from './trust-proxy.js';
import type { AutoscaleConfig, Config, PoolConfig, ResourceType, RouteConfig } from './types.js';

/** File extensions an actor module may have (`.ts` files are loaded through tsx). */
export const ACTOR_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/**
 * Checks the schema cannot express: names that refer to other sections, files that must exist,
 * routes that can never match, values that only make sense together. Runs on the typed Config.
 */
/** Longest bus.timeout: below the 3 s the process that asked for the invalidation waits (INVALIDATE_WAIT_MS), with room for the peer's own processes. */
const MAX_BUS_TIMEOUT = 2000;

/** Shortest autoscale sampling interval: each sample is one stats call to every process. */
const MIN_AUTOSCALE_INTERVAL = 100;

/** Lowest maxRss accepted. */
const MIN_RSS = 128 * 1048576;
/** Smallest maxHeap accepted for a thread pool's threads. */
const MIN_HEAP = 16 * 1048576;

export function crossReferenceIssues(config: Config, doc: LoadedDocument): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const report = (path: readonly PathSegment[], code: ErrorCode, message: string, hint?: string, key?: string): void => {
    const position = doc.locate(path, key);
    const label = pathLabel(key === undefined ? path : [...path, key]);
    issues.push(hint === undefined ? { code, message, position, path: label } : { code, message, hint, position, path: label });
  };
  const ref = (path: readonly PathSegment[], kind: string, name: string, known: Record<string, unknown>): boolean => {
    if (Object.hasOwn(known, name)) return true; // `in` would find toString, constructor... on every object
    const names = Object.keys(known);
    report(path, 'ACTORRT_E_CONFIG_UNKNOWN_REF', `${pathLabel(path)} names ${kind} "${name}", which is not declared`,
      didYouMean(name, names) ?? (names.length === 0 ? `declare it under ${kind === 'pool' ? 'pools' : `${kind}s`}:` : `declared: ${names.join(', ')}`));
    return false;
  };
  // A file path is printed resolved; one built from ${env:...} is printed as written instead, placeholders and all.
  const written = (path: readonly PathSegment[], value: string): string => doc.envAt(path)?.source ?? value;
  const wantType = (path: readonly PathSegment[], name: string, want: ResourceType, why: string): void => {
    const res = Object.hasOwn(config.resources, name) ? config.resources[name] : undefined;
    if (res !== undefined && res.type !== want) {
      report(path, 'ACTORRT_E_CONFIG_REF_TYPE', `${pathLabel(path)} names resource "${name}" of type ${res.type}; ${why} needs a ${want} resource`);
    }
  };

  // A fresh process already holds ~60-100 MiB: a lower bound would replace every process as soon as it starts.
  const tooLowRss = (path: readonly PathSegment[], label: string): void => report(path, 'ACTORRT_E_CONFIG_VALUE',
    `${label} is below ${MIN_RSS / 1048576}mb`, 'a node process with actorrt starts at 60-100 MiB; a bound that low would replace processes in a loop');
  const { http } = config;
  if (http.maxRss !== undefined && http.maxRss < MIN_RSS) tooLowRss(['http', 'maxRss'], 'http.maxRss');
  if (http.limits.headersTimeout > http.limits.requestTimeout) {
    report(['http', 'limits', 'headersTimeout'], 'ACTORRT_E_CONFIG_VALUE', 'http.limits.headersTimeout is longer than http.limits.requestTimeout',
      'the whole request cannot take less time than its headers; raise requestTimeout or lower headersTimeout');
  }
  if (http.health.live === http.health.ready) {
    report(['http', 'health', 'ready'], 'ACTORRT_E_CONFIG_VALUE', 'http.health.live and http.health.ready are the same path');
  }
  if (http.metricsPath !== undefined && (http.metricsPath === http.health.live || http.metricsPath === http.health.ready)) {
    report(['http', 'metricsPath'], 'ACTORRT_E_CONFIG_VALUE', `http.metricsPath ${http.metricsPath} is a health path`, 'choose another path for the metrics (e.g. /internal/metrics)');
  }
  if (Array.isArray(http.trustProxy)) {
    http.trustProxy.forEach((entry, i) => {
      const problem = trustEntryProblem(entry);
      if (problem !== undefined) {
        // A single string was made a list of one: locate() stops at the deepest node, the string itself.
        report(['http', 'trustProxy', i], 'ACTORRT_E_CONFIG_VALUE',
          `http.trustProxy: ${JSON.stringify(entry)} is not an address, a CIDR or a preset (${problem})`,
          'write addresses (10.0.0.7, ::1), CIDRs (10.0.0.0/8, fd00::/8) or loopback, linklocal, uniquelocal, one per list item');
      }
    });
  }

  for (const [name, res] of Object.entries(config.resources)) {
    if (res.type === 'postgres' && res.url === undefined && res.host === undefined) {
      report(['resources', name], 'ACTORRT_E_CONFIG_MISSING_KEY', `resources.${name} needs "url" or "host"`,
        'for example url: ${env:DATABASE_URL}');
    }
    if (res.type === 'sqlite' && res.init !== undefined && !isFile(res.init)) {
      report(['resources', name, 'init'], 'ACTORRT_E_CONFIG_FILE_NOT_FOUND', `resources.${name}.init: file ${written(['resources', name, 'init'], res.init)} does not exist`);
    }
  }

  if (config.bus !== undefined) {
    const redis = Object.entries(config.resources).filter(([, r]) => r.type === 'redis').map(([name]) => name);
    if (config.bus.redis === '') {
      report(['bus'], 'ACTORRT_E_CONFIG_MISSING_KEY', redis.length === 0 ? 'bus needs a redis resource to carry it; the topology declares none'
        : `bus: the topology declares ${redis.length} redis resources (${redis.join(', ')}); name the one that carries the bus`,
      redis.length === 0 ? 'declare one under resources: (type: redis, url: redis://...) and it is used' : `for example bus: { redis: ${redis[0] as string} }`);
    } else if (ref(['bus', 'redis'], 'resource', config.bus.redis, config.resources)) {
      wantType(['bus', 'redis'], config.bus.redis, 'redis', 'the bus');
    }
    if (config.bus.timeout > MAX_BUS_TIMEOUT) {
      report(['bus', 'timeout'], 'ACTORRT_E_CONFIG_VALUE', `bus.timeout is above ${MAX_BUS_TIMEOUT / 1000}s`,
        'a write waits at most 3 s for every process and peer to drop its keys; a slower peer is better counted than waited for (e.g. timeout: 500ms)');
    }
  }

  for (const [name, cache] of Object.entries(config.caches)) {
    if (cache.store === 'redis' && ref(['caches', name, 'resource'], 'resource', cache.resource, config.resources)) {
      wantType(['caches', name, 'resource'], cache.resource, 'redis', 'a redis cache');
    }
  }

  for (const [name, pool] of Object.entries(config.pools)) {
    if (!ACTOR_EXTENSIONS.includes(extname(pool.actor))) {
      report(['pools', name, 'actor'], 'ACTORRT_E_CONFIG_ACTOR_MODULE', `pools.${name}.actor must be a ${ACTOR_EXTENSIONS.join(', ')} file; got ${written(['pools', name, 'actor'], pool.actor)}`);
    } else if (!isFile(pool.actor)) {
      report(['pools', name, 'actor'], 'ACTORRT_E_CONFIG_ACTOR_MODULE', `pools.${name}.actor: file ${written(['pools', name, 'actor'], pool.actor)} does not exist`,
        'paths are relative to the topology file');
    }
    if (pool.maxRss !== undefined && pool.maxRss < MIN_RSS) tooLowRss(['pools', name, 'maxRss'], `pools.${name}.maxRss`);
    if (pool.processes !== undefined && pool.threads !== undefined) {
      report(['pools', name, 'threads'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name} has both processes and threads`,
        'choose one: processes (own OS processes) or threads (worker threads inside every front worker); docs/pools.md compares them');
    }
    if (pool.processes === undefined) {
      if (pool.maxRss !== undefined) {
        report(['pools', name, 'maxRss'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.maxRss only applies to isolated pools (with processes:)`,
          pool.threads === undefined ? 'inline pools run inside the front workers: set http.maxRss instead' : 'a thread pool bounds each thread\'s heap with maxHeap');
      }
      if (pool.watchdog !== undefined && pool.threads === undefined) {
        report(['pools', name, 'watchdog'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.watchdog only applies to isolated and thread pools (with processes: or threads:)`,
          'inline pools run inside the front workers: set http.watchdog instead');
      }
    }
    if (pool.maxHeap !== undefined && pool.threads === undefined) {
      report(['pools', name, 'maxHeap'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.maxHeap only applies to thread pools (with threads:)`,
        pool.processes === undefined ? 'add threads: N to run the pool in worker threads' : 'an isolated pool bounds its processes with maxRss');
    } else if (pool.maxHeap !== undefined && pool.maxHeap < MIN_HEAP) {
      report(['pools', name, 'maxHeap'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.maxHeap is below ${MIN_HEAP / 1048576}mb`,
        'a thread with actorrt\'s modules and an actor needs 10-20 MiB of heap; a bound that low would replace threads in a loop');
    }
    if (pool.autoscale !== undefined) checkAutoscale(name, pool, pool.autoscale);
    pool.resources.forEach((r, i) => ref(['pools', name, 'resources', i], 'resource', r, config.resources));
    const { backoff } = pool.supervision;
    if (backoff.min > backoff.max) {
      report(['pools', name, 'supervision', 'backoff', 'min'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.supervision.backoff.min is larger than backoff.max`);
    }
  }

  const seen: Array<{ route: RouteConfig; shape: string; conditions: string }> = [];
  for (const route of config.routes) checkRoute(route);
  return issues;

  function checkAutoscale(name: string, pool: PoolConfig, a: AutoscaleConfig): void {
    const at = ['pools', name, 'autoscale'] as const;
    if (a.max !== undefined && a.min > a.max) {
      report([...at, 'min'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.autoscale.min (${a.min}) is larger than max (${a.max})`, 'min and max bound the sizes the scaler may choose: lower min or raise max');
    }
    if (a.signal === 'utilization' && a.target > 1) {
      report([...at, 'target'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.autoscale.target is ${a.target}, but utilization is a share of time from 0 to 1`,
        'write 0.7 for 70 %; or use signal: inflight, whose target is requests per actor and may be above 1');
    }
    if (a.interval < MIN_AUTOSCALE_INTERVAL) {
      report([...at, 'interval'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.autoscale.interval is below ${MIN_AUTOSCALE_INTERVAL}ms`,
        'every sample asks every process for its load; 1s is the default');
    }
    const most = pool.processes !== undefined || pool.threads !== undefined ? 256 : 4096;
    for (const key of ['min', 'max'] as const) {
      const v = a[key];
      if (v !== undefined && v > most) {
        report([...at, key], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.autoscale.${key} is ${v}; ${pool.threads !== undefined ? 'a thread' : 'an isolated'} pool has at most ${most} ${pool.threads !== undefined ? 'threads' : 'processes'}`);
      }
    }
    for (const direction of ['up', 'down'] as const) {
      const step = a[direction].step;
      if ('ratio' in step && step.ratio <= 0) {
        report([...at, direction, 'step'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.autoscale.${direction}.step is 0%: the pool could never ${direction === 'up' ? 'grow' : 'shrink'}`,
          'give a percentage above 0, or a number of units');
      }
      if (a[direction].window < a.interval) {
        report([...at, direction, 'window'], 'ACTORRT_E_CONFIG_VALUE', `pools.${name}.autoscale.${direction}.window is shorter than the sampling interval (${a.interval}ms)`,
          'a window holds several samples: make it a few intervals long at least');
      }
    }
  }

  function checkRoute(route: RouteConfig): void {
    const at = ['routes', route.index] as const;
    const hasPool = route.pool !== undefined;
    const hasProxy = route.proxy !== undefined;
    if (hasPool === hasProxy) {
      report(at, 'ACTORRT_E_CONFIG_ROUTE_TARGET', hasPool
        ? `routes[${route.index}] names both a pool and a proxy`
        : `routes[${route.index}] names neither a pool nor a proxy`, 'give exactly one of pool: <name> or proxy: <http resource>');
    }
    if (route.pool !== undefined) ref([...at, 'pool'], 'pool', route.pool, config.pools);
    if (route.proxy !== undefined && ref([...at, 'proxy'], 'resource', route.proxy, config.resources)) {
      wantType([...at, 'proxy'], route.proxy, 'http', 'a proxy route');
    }
    if (!hasProxy) {
      for (const key of ['stripPrefix', 'rewrite'] as const) {
        if (route[key] !== undefined) report([...at, key], 'ACTORRT_E_CONFIG_VALUE', `routes[${route.index}].${key} only applies to proxy routes`);
      }
    }

    const pattern = parsePathPattern(route.match.path);
    if ('error' in pattern) {
      report([...at, 'match', 'path'], 'ACTORRT_E_CONFIG_ROUTE_PATH', `routes[${route.index}].match.path ${pattern.error}`);
      return;
    }
    if (route.stripPrefix !== undefined && route.rewrite !== undefined) {
      report([...at, 'rewrite'], 'ACTORRT_E_CONFIG_VALUE', `routes[${route.index}] gives both stripPrefix and rewrite`, 'rewrite already sets the whole upstream path; keep one');
    }
    for (const token of route.rewrite?.match(/:[A-Za-z_][A-Za-z0-9_]*|\*/g) ?? []) {
      const name = token === '*' ? '*' : token.slice(1);
      if (!pattern.params.includes(name)) {
        report([...at, 'rewrite'], 'ACTORRT_E_CONFIG_VALUE', `routes[${route.index}].rewrite uses ${token}, but ${route.match.path} has no ${token}`,
          pattern.params.length === 0 ? undefined : `parameters of this path: ${pattern.params.map((p) => (p === '*' ? '*' : `:${p}`)).join(', ')}`);
      }
    }
    if (route.match.path === http.metricsPath) {
      report([...at, 'match', 'path'], 'ACTORRT_E_CONFIG_ROUTE_CONFLICT', `routes[${route.index}].match.path ${route.match.path} is http.metricsPath: the metrics would answer it`,
        'choose another path for the route, or another http.metricsPath');
    }
    if (route.match.path === http.health.live || route.match.path === http.health.ready) {
      report([...at, 'match', 'path'], 'ACTORRT_E_CONFIG_ROUTE_CONFLICT', `routes[${route.index}].match.path ${route.match.path} is reserved for health checks`,
        'choose another path, or move the health paths with http.health.live / http.health.ready');
    }

    const templates: Array<[readonly PathSegment[], string]> = [];
    if (route.cache !== undefined) {
      const caches = Object.keys(config.caches);
      if (route.cache.use === '') {
        report([...at, 'cache'], 'ACTORRT_E_CONFIG_VALUE', caches.length === 0
          ? `routes[${route.index}].cache needs a cache store, and the topology declares none`
          : `routes[${route.index}].cache must say which cache stores its replies (use:), since the topology declares ${caches.length}: ${caches.join(', ')}`,
        caches.length === 0 ? 'declare one under caches:, e.g. caches: { local: { store: memory } }' : `add use: ${caches[0] as string}`);
      } else {
        ref([...at, 'cache', 'use'], 'cache', route.cache.use, config.caches);
      }
      templates.push([[...at, 'cache', 'key'], route.cache.key]);
      const methods = route.match.methods;
      if (methods !== undefined && !methods.some((m) => m === 'GET' || m === 'HEAD')) {
        report([...at, 'cache'], 'ACTORRT_E_CONFIG_VALUE', `routes[${route.index}].cache applies only to GET and HEAD requests, but the route matches ${methods.join(', ')}`,
          'use invalidate: on mutating routes instead');
      }
    }
    route.invalidate?.forEach((t, i) => {
      const star = t.indexOf('*');
      if (star !== -1 && star !== t.length - 1) {
        report([...at, 'invalidate', i], 'ACTORRT_E_CONFIG_VALUE', `routes[${route.index}].invalidate[${i}] "${t}" has a * that is not its last character`,
          'a trailing * removes every key that starts with the text before it, e.g. users:*; other wildcards are not supported');
      }
      templates.push([[...at, 'invalidate', i], star === t.length - 1 ? t.slice(0, -1) : t]);
    });
    for (const [path, template] of templates) {
      const parts = parseKeyTemplate(template);
      if ('error' in parts) {
        report(path, 'ACTORRT_E_CONFIG_VALUE', `${pathLabel(path)} ${parts.error}`);
        continue;
      }
      for (const part of parts) {
        if (part.kind === 'field' && part.source === 'params' && !pattern.params.includes(part.name)) {
          report(path, 'ACTORRT_E_CONFIG_VALUE', `${pathLabel(path)} uses {params.${part.name}}, but ${route.match.path} has no :${part.name}`,
            didYouMean(part.name, pattern.params.filter((p) => p !== '*')));
        }
      }
    }

    const conditions = JSON.stringify([route.match.header ?? {}, route.match.query ?? {}, route.match.body ?? {}].map(sortKeys));
    const earlier = seen.find((s) => s.shape === pattern.shape && s.conditions === conditions && covers(s.route, route));
    if (earlier !== undefined) {
      const pos = doc.locate(['routes', earlier.route.index]);
      report([...at, 'match'], 'ACTORRT_E_CONFIG_ROUTE_CONFLICT',
        `routes[${route.index}] can never match: routes[${earlier.route.index}] (line ${pos.line}) has the same path, methods and conditions and is tried first`,
        'remove one of them, or add a header/query/body condition that tells them apart');
    }
    seen.push({ route, shape: pattern.shape, conditions });
  }
}

/** True when every method `later` matches is also matched by `first`. */
function covers(first: RouteConfig, later: RouteConfig): boolean {
  const a = first.match.methods;
  const b = later.match.methods;
  if (a === undefined) return true;
  if (b === undefined) return false;
  return b.every((m) => a.includes(m));
}

function sortKeys(obj: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}
