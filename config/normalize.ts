import { dirname, resolve } from 'node:path';
import type {
  AccessLogConfig, AdminConfig, AutoscaleConfig, AutoscaleStep, BusConfig, CacheConfig, Config, HttpConfig, HttpMethod, PoolConfig, ResourceConfig, RouteCache, RouteConfig, RouteMatch, StartupRetry,
} from './types.js';
import type { TrustProxy } from './trust-proxy.js';
import { parseDuration, parseSize } from './units.js';

type Raw = Record<string, unknown>;

/**
 * Convert schema-valid data (ajv has applied the defaults) into the typed Config: units to
 * numbers, relative paths resolved, optional keys omitted rather than undefined.
 */
export function normalize(data: Raw, file: string): Config {
  const base = dirname(file);
  return {
    version: 1,
    file,
    http: http(data['http'] as Raw),
    admin: admin(data['admin'] as Raw),
    ...opt('bus', data['bus'] === undefined ? undefined : bus(data['bus'] as Raw, data['resources'] as Raw)),
    resources: mapValues(data['resources'] as Raw, (r) => resource(r as Raw, base)),
    caches: mapValues(data['caches'] as Raw, (c, name) => cache(c as Raw, name)),
    pools: mapValues(data['pools'] as Raw, (p, name) => pool(p as Raw, name, base)),
    routes: (data['routes'] as Raw[]).map((r, i) => route(r, i, Object.keys(data['caches'] as Raw))),
  };
}

function http(h: Raw): HttpConfig {
  const limits = h['limits'] as Raw;
  const health = h['health'] as Raw;
  const sup = h['supervision'] as Raw;
  const backoff = sup['backoff'] as Raw;
  return {
    port: h['port'] as number,
    host: h['host'] as string,
    workers: h['workers'] as number | 'auto',
    limits: {
      bodyBytes: size(limits['bodyBytes']),
      headersTimeout: ms(limits['headersTimeout']),
      requestTimeout: ms(limits['requestTimeout']),
      keepAliveTimeout: ms(limits['keepAliveTimeout']),
      maxConnections: limits['maxConnections'] as number,
    },
    shutdownTimeout: ms(h['shutdownTimeout']),
    shutdownDelay: h['shutdownDelay'] === 'auto' ? 'auto' : ms(h['shutdownDelay']),
    balanceConnections: h['balanceConnections'] as boolean,
    watchdog: ms(h['watchdog']),
    ...opt('maxRss', h['maxRss'] === undefined ? undefined : size(h['maxRss'])),
    health: { live: health['live'] as string, ready: health['ready'] as string },
    trustProxy: trustProxy(h['trustProxy']),
    ...opt('metricsPath', h['metricsPath'] as string | undefined),
    accessLog: accessLog(h['accessLog']),
    supervision: {
      maxRestarts: sup['maxRestarts'] as number,
      within: ms(sup['within']),
      backoff: { min: ms(backoff['min']), max: ms(backoff['max']) },
    },
  };
}

function admin(a: Raw): AdminConfig {
  const metrics = a['metrics'];
  if (typeof metrics !== 'string') return { metrics: false };
  // The schema's pattern proved the shape: host (or [IPv6]) and a port after the last colon.
  const colon = metrics.lastIndexOf(':');
  const host = metrics.slice(0, colon);
  return { metrics: { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(metrics.slice(colon + 1)) } };
}

/** The bus's redis resource defaults to the topology's only one (none or several: '' and crossref says which to name). */
function bus(b: Raw, resources: Raw): BusConfig {
  const redis = Object.entries(resources).filter(([, r]) => (r as Raw)['type'] === 'redis').map(([name]) => name);
  return {
    redis: (b['redis'] as string | undefined) ?? (redis.length === 1 ? redis[0] as string : ''),
    channel: b['channel'] as string,
    timeout: ms(b['timeout']),
    staleness: ms(b['staleness']),
  };
}

/** `true` is the access log with its defaults. */
function accessLog(value: unknown): AccessLogConfig | false {
  if (value === false || value === undefined) return false;
  if (value === true) return { userAgent: false };
  return { userAgent: ((value as Raw)['userAgent'] as boolean | undefined) ?? false };
}

/** A single address or preset is a list of one. */
function trustProxy(value: unknown): TrustProxy {
  if (typeof value === 'string') return [value];
  return value as TrustProxy;
}

function startup(r: Raw): StartupRetry {
  const s = (r['startup'] ?? {}) as Raw;
  return { retries: (s['retries'] as number | undefined) ?? 3, delay: ms(s['delay'] ?? '500ms') };
}

function resource(r: Raw, base: string): ResourceConfig {
  switch (r['type']) {
    case 'sqlite':
      return {
        type: 'sqlite',
        file: r['file'] === ':memory:' ? ':memory:' : resolve(base, r['file'] as string),
        readonly: (r['readonly'] as boolean | undefined) ?? false,
        wal: (r['wal'] as boolean | undefined) ?? true,
        ...opt('init', r['init'] === undefined ? undefined : resolve(base, r['init'] as string)),
        startup: startup(r),
      };
    case 'postgres':
      return {
        type: 'postgres',
        ...opt('url', r['url'] as string | undefined),
        ...opt('host', r['host'] as string | undefined),
        ...opt('port', r['port'] as number | undefined),
        ...opt('user', r['user'] as string | undefined),
        ...opt('password', r['password'] as string | undefined),
        ...opt('database', r['database'] as string | undefined),
        max: (r['max'] as number | undefined) ?? 10,
        idleTimeout: ms(r['idleTimeout'] ?? '10s'),
        ...opt('statementTimeout', r['statementTimeout'] === undefined ? undefined : ms(r['statementTimeout'])),
        connectTimeout: ms(r['connectTimeout'] ?? '5s'),
        startup: startup(r),
      };
    case 'redis':
      return {
        type: 'redis',
        url: (r['url'] as string | undefined) ?? 'redis://127.0.0.1:6379',
        ...opt('keyPrefix', r['keyPrefix'] as string | undefined),
        connectTimeout: ms(r['connectTimeout'] ?? '5s'),
        startup: startup(r),
      };
    default: {
      const hc = r['healthCheck'] as Raw | undefined;
      return {
        type: 'http',
        origins: (r['origins'] as string[]).map((o) => o.replace(/\/$/, '')),
        connections: (r['connections'] as number | undefined) ?? 64,
        pipelining: (r['pipelining'] as number | undefined) ?? 1,
        keepAliveTimeout: ms(r['keepAliveTimeout'] ?? '4s'),
        headersTimeout: ms(r['headersTimeout'] ?? '30s'),
        bodyTimeout: ms(r['bodyTimeout'] ?? '30s'),
        retries: (r['retries'] as number | undefined) ?? 2,
        ...opt('healthCheck', hc === undefined ? undefined : { path: hc['path'] as string, interval: ms(hc['interval'] ?? '5s') }),
        startup: startup(r),
      };
    }
  }
}

/** A cache store's settings as the schema accepted them, with every default applied (the test kit's memory stores too). */
export function cache(c: Raw, name: string): CacheConfig {
  const timeout = ms(c['timeout'] ?? '50ms');
  if (c['store'] === 'redis') {
    return {
      store: 'redis',
      resource: c['resource'] as string,
      namespace: (c['namespace'] as string | undefined) ?? `actorrt:${name}`,
      ttl: ms(c['ttl'] ?? '5m'),
      timeout,
    };
  }
  return {
    store: 'memory',
    maxEntries: (c['maxEntries'] as number | undefined) ?? 10000,
    ...opt('maxBytes', c['maxBytes'] === undefined ? undefined : size(c['maxBytes'])),
    ttl: ms(c['ttl'] ?? '30s'),
    timeout,
  };
}

function pool(p: Raw, name: string, base: string): PoolConfig {
  const mailbox = p['mailbox'] as Raw;
  const sup = p['supervision'] as Raw;
  const backoff = sup['backoff'] as Raw;
  return {
    name,
    actor: resolve(base, p['actor'] as string),
    size: p['size'] as number,
    ...opt('processes', p['processes'] as number | undefined),
    ...opt('threads', p['threads'] as number | undefined),
    ...opt('maxHeap', p['maxHeap'] === undefined ? undefined : size(p['maxHeap'])),
    resources: p['resources'] as string[],
    mailbox: { capacity: mailbox['capacity'] as number, overflow: 'reject' },
    timeout: ms(p['timeout']),
    drainTimeout: ms(p['drainTimeout']),
    ...opt('watchdog', p['watchdog'] === undefined ? undefined : ms(p['watchdog'])),
    ...opt('maxRss', p['maxRss'] === undefined ? undefined : size(p['maxRss'])),
    ...opt('autoscale', p['autoscale'] === undefined ? undefined : autoscale(p['autoscale'] as Raw, p['processes'] !== undefined || p['threads'] !== undefined)),
    supervision: {
      strategy: sup['strategy'] as PoolConfig['supervision']['strategy'],
      maxRestarts: sup['maxRestarts'] as number,
      within: ms(sup['within']),
      backoff: { min: ms(backoff['min']), max: ms(backoff['max']) },
    },
  };
}

/** Defaults that depend on the pool: utilization for thread and isolated pools (CPU work is why they exist), inflight for inline ones. */
function autoscale(a: Raw, offLoop: boolean): AutoscaleConfig {
  const signal = (a['signal'] as AutoscaleConfig['signal'] | undefined) ?? (offLoop ? 'utilization' : 'inflight');
  const up = a['up'] as Raw;
  const down = a['down'] as Raw;
  return {
    min: a['min'] as number,
    ...opt('max', a['max'] as number | undefined),
    signal,
    target: (a['target'] as number | undefined) ?? (signal === 'inflight' ? 1 : 0.7),
    tolerance: a['tolerance'] as number,
    interval: ms(a['interval']),
    up: { window: ms(up['window']), step: step(up['step']) },
    down: { window: ms(down['window']), step: step(down['step']) },
  };
}

function step(value: unknown): AutoscaleStep {
  if (typeof value === 'number') return { units: value };
  return { ratio: Number(String(value).slice(0, -1)) / 100 };
}

function route(r: Raw, index: number, caches: readonly string[]): RouteConfig {
  const m = r['match'] as Raw;
  const method = m['method'] as HttpMethod | HttpMethod[] | undefined;
  const match: RouteMatch = {
    path: m['path'] as string,
    ...opt('methods', method === undefined ? undefined : Array.isArray(method) ? method : [method]),
    ...opt('header', lowerKeys(m['header'] as Record<string, string> | undefined)),
    ...opt('query', stringValues(m['query'] as Raw | undefined)),
    ...opt('body', m['body'] as Record<string, string | number | boolean | null> | undefined),
  };
  const c = r['cache'] as Raw | undefined;
  const routeCache: RouteCache | undefined = c === undefined ? undefined : {
    // Left out: the topology's only cache (crossref reports a missing one when there are none or several).
    use: (c['use'] as string | undefined) ?? onlyCache(caches),
    key: (c['key'] as string | undefined) ?? '{method}:{url}',
    freshness: (c['freshness'] as RouteCache['freshness'] | undefined) ?? 'origin',
    ...opt('ttl', c['ttl'] === undefined ? undefined : ms(c['ttl'])),
    staleWhileRevalidate: ms(c['staleWhileRevalidate'] ?? 0),
    staleIfError: ms(c['staleIfError'] ?? 0),
    vary: ((c['vary'] as string[] | undefined) ?? []).map((h) => h.toLowerCase()),
    statuses: (c['statuses'] as number[] | undefined) ?? [200],
    allowNoCache: (c['allowNoCache'] as boolean | undefined) ?? false,
  };
  return {
    index,
    match,
    ...opt('pool', r['pool'] as string | undefined),
    ...opt('proxy', r['proxy'] as string | undefined),
    ...opt('timeout', r['timeout'] === undefined ? undefined : ms(r['timeout'])),
    ...opt('stripPrefix', r['stripPrefix'] as string | undefined),
    ...opt('rewrite', r['rewrite'] as string | undefined),
    ...opt('cache', routeCache),
    ...opt('invalidate', r['invalidate'] as string[] | undefined),
  };
}

function onlyCache(caches: readonly string[]): string {
  return caches.length === 1 ? caches[0] as string : '';
}

/** `{ key: value }` when value is defined, `{}` otherwise (exactOptionalPropertyTypes-friendly). */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function mapValues<T>(obj: Raw, fn: (value: unknown, key: string) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = fn(v, k);
  return out;
}

function lowerKeys(h: Record<string, string> | undefined): Record<string, string> | undefined {
  if (h === undefined) return undefined;
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

function stringValues(q: Raw | undefined): Record<string, string> | undefined {
  if (q === undefined) return undefined;
  return Object.fromEntries(Object.entries(q).map(([k, v]) => [k, String(v)]));
}

function ms(value: unknown): number {
  const out = parseDuration(value as number | string);
  // The schema accepted this value, so a failure here is our bug, not the user's.
  if (out === undefined) throw new Error(`actorrt bug: schema-valid duration ${JSON.stringify(value)} did not parse`);
  return out;
}

function size(value: unknown): number {
  const out = parseSize(value as number | string);
  if (out === undefined) throw new Error(`actorrt bug: schema-valid size ${JSON.stringify(value)} did not parse`);
  return out;
}

/** Freeze an object graph so no part of the runtime can mutate the loaded topology. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
