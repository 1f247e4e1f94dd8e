/**
 * The loaded topology: every default applied, every duration in milliseconds, every size in
 * bytes, every relative path resolved against the topology file's folder. Deeply frozen.
 */

import type { TrustProxy } from './trust-proxy.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export interface Config {
  readonly version: 1;
  /** Absolute path of the topology file. */
  readonly file: string;
  readonly http: HttpConfig;
  readonly admin: AdminConfig;
  /** Invalidation of memory caches across instances; absent = this instance alone. */
  readonly bus?: BusConfig;
  readonly resources: Readonly<Record<string, ResourceConfig>>;
  readonly caches: Readonly<Record<string, CacheConfig>>;
  readonly pools: Readonly<Record<string, PoolConfig>>;
  readonly routes: readonly RouteConfig[];
}

export interface AdminConfig {
  /** The metrics listener's address; false = none. */
  readonly metrics: { readonly host: string; readonly port: number } | false;
}

/**
 * The invalidation bus (runtime/bus/): memory-store invalidations published on a Redis channel and
 * acknowledged by every peer instance before the mutating request is answered.
 */
export interface BusConfig {
  /** The redis resource carrying it (resolved: the only redis resource when the file names none; '' when there is none to pick, which cross-checks report). */
  readonly redis: string;
  /** The pub/sub channel; instances on the same channel are peers. */
  readonly channel: string;
  /** Milliseconds a write waits for peers' acknowledgements. */
  readonly timeout: number;
  /** Milliseconds: while cut off from the bus, memory entries stored longer ago than this are misses. */
  readonly staleness: number;
}

export interface HttpConfig {
  readonly port: number;
  readonly host: string;
  /** Front worker processes; `auto` is resolved to the CPU count at start. */
  readonly workers: number | 'auto';
  readonly limits: {
    readonly bodyBytes: number;
    readonly headersTimeout: number;
    readonly requestTimeout: number;
    readonly keepAliveTimeout: number;
    readonly maxConnections: number;
  };
  /** Milliseconds a stop may take to drain, counted from the end of `shutdownDelay`. */
  readonly shutdownTimeout: number;
  /**
   * Milliseconds a stop keeps serving (readiness 503, `Connection: close`) before it drains, or
   * `auto` (resolved when the stop begins: see `resolveShutdownDelay`).
   */
  readonly shutdownDelay: number | 'auto';
  /** Hand connections accepted past a worker's share to the worker holding fewest (runtime/worker/spread.ts). */
  readonly balanceConnections: boolean;
  /** Milliseconds of event-loop silence after which a front worker is killed and replaced; 0 = off. */
  readonly watchdog: number;
  /** Resident bytes past which a front worker is replaced, new before old. */
  readonly maxRss?: number;
  readonly health: { readonly live: string; readonly ready: string };
  /** The peers whose X-Forwarded-* headers are believed (config/trust-proxy.ts): false, true, a hop count or addresses / CIDRs / presets. */
  readonly trustProxy: TrustProxy;
  /** Also serve the instance's metrics at this path on the main port. */
  readonly metricsPath?: string;
  /** One access log line per request (runtime/worker/access-log.ts), or false. */
  readonly accessLog: AccessLogConfig | false;
  /** Front worker restarts: backoff from the restarts within `within`; give up after `maxRestarts` failed starts in a row. */
  readonly supervision: {
    readonly maxRestarts: number;
    readonly within: number;
    readonly backoff: { readonly min: number; readonly max: number };
  };
}

export interface AccessLogConfig {
  /** Add the request's User-Agent header. */
  readonly userAgent: boolean;
}

export interface StartupRetry {
  readonly retries: number;
  readonly delay: number;
}

export interface SqliteResource {
  readonly type: 'sqlite';
  readonly file: string;
  readonly readonly: boolean;
  readonly wal: boolean;
  readonly init?: string;
  readonly startup: StartupRetry;
}

export interface PostgresResource {
  readonly type: 'postgres';
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly max: number;
  readonly idleTimeout: number;
  readonly statementTimeout?: number;
  readonly connectTimeout: number;
  readonly startup: StartupRetry;
}

export interface RedisResource {
  readonly type: 'redis';
  readonly url: string;
  readonly keyPrefix?: string;
  readonly connectTimeout: number;
  readonly startup: StartupRetry;
}

export interface HttpResource {
  readonly type: 'http';
  readonly origins: readonly string[];
  readonly connections: number;
  readonly pipelining: number;
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  readonly retries: number;
  readonly healthCheck?: { readonly path: string; readonly interval: number };
  readonly startup: StartupRetry;
}

export type ResourceConfig = SqliteResource | PostgresResource | RedisResource | HttpResource;
export type ResourceType = ResourceConfig['type'];

export interface MemoryCache {
  readonly store: 'memory';
  readonly maxEntries: number;
  /** Bound on the stored bytes (keys and values) per process; undefined = entries only. */
  readonly maxBytes?: number;
  readonly ttl: number;
  readonly timeout: number;
}

export interface RedisCache {
  readonly store: 'redis';
  readonly resource: string;
  /** Prefix of every key (`<namespace>:<key>`). */
  readonly namespace: string;
  readonly ttl: number;
  /** Deadline of one store operation; past it the operation counts as a miss (or is dropped). */
  readonly timeout: number;
}

export type CacheConfig = MemoryCache | RedisCache;

export type SupervisionStrategy = 'one-for-one' | 'one-for-all' | 'stop' | 'escalate';

export interface PoolConfig {
  readonly name: string;
  /** Absolute path of the actor module. */
  readonly actor: string;
  readonly size: number;
  /** Own OS processes; undefined = inside every front worker (inline, or in threads). */
  readonly processes?: number;
  /** Worker threads inside every front worker, each running `size` actors; undefined = not a thread pool. */
  readonly threads?: number;
  /** Thread pools: bytes of old-generation heap each thread may use (resourceLimits.maxOldGenerationSizeMb). */
  readonly maxHeap?: number;
  readonly resources: readonly string[];
  readonly mailbox: { readonly capacity: number; readonly overflow: 'reject' };
  readonly timeout: number;
  readonly drainTimeout: number;
  /** Isolated and thread pools: event-loop silence (ms) after which a process or thread is replaced; undefined = http.watchdog. */
  readonly watchdog?: number;
  /** Isolated pools: resident bytes past which a process is replaced, new before old. */
  readonly maxRss?: number;
  /** The runtime chooses the pool's size from its load (runtime/autoscale/); undefined = the size is the file's or `actorrt scale`'s. */
  readonly autoscale?: AutoscaleConfig;
  readonly supervision: {
    readonly strategy: SupervisionStrategy;
    readonly maxRestarts: number;
    readonly within: number;
    readonly backoff: { readonly min: number; readonly max: number };
  };
}

/** A most-change-per-decision: a number of units, or a ratio of the current size (`50%` -> 0.5). */
export type AutoscaleStep = { readonly units: number } | { readonly ratio: number };

/**
 * How a pool sizes itself. The unit it scales is the pool's own: actors per front worker for an
 * inline pool (`size`), threads per front worker (`threads`), processes (`processes`).
 */
export interface AutoscaleConfig {
  readonly min: number;
  /** undefined = 64 for an inline pool, the usable CPUs for a thread or isolated pool (resolved by the primary). */
  readonly max?: number;
  /** inflight: requests queued or running per actor; utilization: share of time the actors handle a message (0-1). */
  readonly signal: 'inflight' | 'utilization';
  /** The signal's value per actor to hold. */
  readonly target: number;
  /** No change while the signal is within target x (1 +- tolerance). */
  readonly tolerance: number;
  /** Milliseconds between two samples of the load. */
  readonly interval: number;
  /** Windows in milliseconds. */
  readonly up: { readonly window: number; readonly step: AutoscaleStep };
  readonly down: { readonly window: number; readonly step: AutoscaleStep };
}

export interface RouteMatch {
  /** Undefined = every method. */
  readonly methods?: readonly HttpMethod[];
  readonly path: string;
  readonly header?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface RouteCache {
  /** The store; '' when the file left it out and the topology does not declare exactly one cache (reported at load). */
  readonly use: string;
  readonly key: string;
  /** origin: the reply's freshness headers decide, `ttl` where it states none; route: `ttl` for every storable reply. */
  readonly freshness: 'origin' | 'route';
  /** Lifetime (ms) of replies that state none (origin) or of every reply (route); undefined = the store's on pool routes, 0 on proxy routes. */
  readonly ttl?: number;
  readonly staleWhileRevalidate: number;
  readonly staleIfError: number;
  /** Request headers (lower case) whose values are part of the key. */
  readonly vary: readonly string[];
  /** Statuses `ttl` applies to (a reply stating its own lifetime is stored whatever its status). */
  readonly statuses: readonly number[];
  /** Whether a request's `Cache-Control: no-cache` skips the lookup (the reply is still stored). */
  readonly allowNoCache: boolean;
}

export interface RouteConfig {
  /** Position in the file's `routes` list (0-based); routes are tried in this order. */
  readonly index: number;
  readonly match: RouteMatch;
  readonly pool?: string;
  readonly proxy?: string;
  readonly timeout?: number;
  readonly stripPrefix?: string;
  readonly rewrite?: string;
  readonly cache?: RouteCache;
  readonly invalidate?: readonly string[];
}
