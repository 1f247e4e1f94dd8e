/**
 * The data shapes that cross the primary <-> child boundary inside messages. They live here, with
 * the messages, so the protocol depends on nothing else in the runtime: the cache, pools and
 * supervision import these shapes, never the other way around.
 */

/** Socket paths of every pool's serving processes, by pool name. */
export type Endpoints = Readonly<Record<string, readonly string[]>>;

/** Keys and key prefixes to remove, from the named stores (every store when absent). */
export interface Invalidation {
  readonly keys: readonly string[];
  readonly prefixes: readonly string[];
  readonly stores?: readonly string[];
}

/** What `actorrt status` shows of one cache store in one process. */
export interface StoreStats {
  readonly name: string;
  readonly kind: 'memory' | 'redis';
  /** Memory stores: entries held in this process. */
  readonly entries?: number;
  /** Memory stores: bytes held (as counted for maxBytes). */
  readonly bytes?: number;
  /** Operations that failed or ran past the timeout (each degraded to a miss or a dropped write). */
  readonly errors: number;
  /** Redis stores: whether the store is connected and answering. */
  readonly available: boolean;
}

/** Lookups of one cached route in one process, by outcome (counts since the process started). */
export interface RouteCacheCounts {
  /** The route's index in the topology's `routes`. */
  readonly route: number;
  readonly store: string;
  readonly hits: number;
  readonly misses: number;
  readonly stale: number;
  readonly bypass: number;
}

/** The caches of one process, as a stats reply carries them. */
export interface CacheStats {
  readonly stores: readonly StoreStats[];
  readonly routes: readonly RouteCacheCounts[];
}

/** The load of one pool in one process, as a stats reply carries it. */
export interface PoolLoad {
  readonly pool: string;
  /** Actors taking messages here (retiring ones excluded). */
  readonly actors: number;
  /** Messages queued or running here. */
  readonly depth: number;
  /** Actors handling a message now (depth - busy wait in mailboxes). */
  readonly busy: number;
  /** Requests answered here with the actor's reply in time since the pool started in this process (a counter: it restarts with the pool; errors and timeouts are not counted). */
  readonly completed: number;
  /** Time integrals since then, sampled only for autoscaled pools (0 otherwise): request-seconds in flight, actor-seconds busy. */
  readonly inflightSeconds: number;
  readonly busySeconds: number;
}

/** What supervision did, as counted for `actorrt status` and metrics. */
export type SupervisionEvent = 'actor-restart' | 'actor-stop' | 'escalation' | 'process-restart' | 'give-up';

export const SUPERVISION_EVENTS: readonly SupervisionEvent[] = ['actor-restart', 'actor-stop', 'escalation', 'process-restart', 'give-up'];

/**
 * One series of a metric family as a child counted it: label values in the catalog's label order
 * (protocol/metric-families.ts), the value (for a histogram: the sum of observations) and, for a
 * histogram, observations per bucket, not cumulative, one more than the bounds (the last is +Inf).
 */
export interface MetricSeries {
  readonly labels: readonly string[];
  readonly value: number;
  readonly buckets?: readonly number[];
}

/** What one process counted since it started, by family name (child families of the catalog only). */
export type MetricsSnapshot = Readonly<Record<string, readonly MetricSeries[]>>;

/** What `actorrt profile` takes: a CPU profile, a sampling heap profile, or a full heap snapshot. */
export type ProfileKind = 'cpu' | 'heap' | 'heap-snapshot';

export const PROFILE_KINDS: readonly ProfileKind[] = ['cpu', 'heap', 'heap-snapshot'];

/** The file a child wrote for a profile message: its absolute path and size in bytes. */
export interface ProfileWritten {
  readonly path: string;
  readonly bytes: number;
}
