import type { Config } from '../config/types.js';
import type { Invalidation } from './cache/keys.js';
import type { RouteCacheCounts } from './cache/route-cache.js';
import type { StoreStats } from './cache/store.js';
import type { SupervisionEvent } from './supervision/counters.js';

/**
 * Every message between the primary and its worker processes (node:cluster IPC). The primary
 * never carries request traffic: these are lifecycle and control messages only.
 */

/** Socket paths of every isolated pool's processes, by pool name. */
export type Endpoints = Readonly<Record<string, readonly string[]>>;

/** Primary -> front worker: the validated topology to run (sent once, after the worker booted). */
export interface StartMessage {
  readonly type: 'start';
  readonly config: Config;
  readonly workerIndex: number;
  /** The primary's listening socket, inherited at this file descriptor (bound once for the instance's life). */
  readonly listenFd: number;
  readonly endpoints: Endpoints;
  /** Where to serve this worker's inline pools to pool processes (used when `endpoints` names them). */
  readonly socket: string;
  /** Isolated pools already given up, with the reason. */
  readonly down: Readonly<Record<string, string>>;
}
/** Primary -> pool process: run pool `pool` (process `index`) and serve it on `socket`. */
export interface StartPoolMessage {
  readonly type: 'start-pool';
  readonly config: Config;
  readonly pool: string;
  readonly index: number;
  readonly socket: string;
  readonly endpoints: Endpoints;
  /** Isolated pools already given up, with the reason. */
  readonly down: Readonly<Record<string, string>>;
}
/** Primary -> front workers and pool processes: the supervisor gave up on an isolated pool. */
export interface PoolDownMessage { readonly type: 'pool-down'; readonly pool: string; readonly reason: string }
/**
 * Primary -> worker: stop accepting, drain in-flight requests, close, exit 0. `stop` is the whole
 * instance going away (idle connections are closed at once); `retire` is one process leaving a
 * running instance (shrink or roll): peers have already stopped routing to it, so it waits for
 * them to hang up and never closes a keep-alive connection a client may be reusing.
 */
export interface ShutdownMessage { readonly type: 'shutdown'; readonly timeout: number; readonly mode: 'stop' | 'retire' }

/** Primary -> running worker: apply a new topology (pool sizes and settings, endpoints, routes); answered with a reply. */
export interface ReconfigureMessage {
  readonly type: 'reconfigure';
  readonly id: number;
  readonly config: Config;
  readonly endpoints: Endpoints;
  readonly down: Readonly<Record<string, string>>;
}

/** Primary -> running worker: report the load of the pools running here; answered with a reply. */
export interface StatsMessage { readonly type: 'stats'; readonly id: number }

/**
 * Both ways. Worker -> primary: keys this process invalidated; tell every other process, then
 * answer with `invalidated`. Primary -> every other process: drop them from local (memory) stores;
 * answered with a reply.
 */
export interface InvalidateMessage extends Invalidation {
  readonly type: 'invalidate';
  readonly id: number;
}

/** Primary -> the process that asked: every other process has dropped the keys (or did not answer in time). */
export interface InvalidatedMessage { readonly type: 'invalidated'; readonly id: number }

export type PrimaryMessage = StartMessage | StartPoolMessage | ShutdownMessage | PoolDownMessage | ReconfigureMessage | StatsMessage | InvalidateMessage | InvalidatedMessage;

/** Worker -> primary: the worker's code is loaded and listening for its start message. */
export interface BootedMessage { readonly type: 'booted' }
/** Worker -> primary: pools started, resources open, server listening (`port` is 0 for a pool process). */
export interface ReadyMessage { readonly type: 'ready'; readonly port: number; readonly pools: readonly string[] }
/** Worker -> primary: start-up failed; the primary reports it and does not respawn in a hot loop. */
export interface StartupFailedMessage { readonly type: 'startup-failed'; readonly code: string; readonly message: string; readonly hint?: string }
/** Worker -> primary: an actor's restart intensity was exceeded; the process is about to exit. */
export interface EscalateMessage { readonly type: 'escalate'; readonly pool: string; readonly reason: string }

/** Worker -> primary: supervision acted on actors of `pool` here (counted for status and metrics). */
export interface SupervisionMessage { readonly type: 'supervision'; readonly pool: string; readonly event: SupervisionEvent; readonly count: number }

/** Worker -> primary: a resource of this process became unreachable, came back, or had upstream origins taken out / put back. */
export interface ResourceMessage {
  readonly type: 'resource';
  readonly resource: string;
  readonly available: boolean;
  /** Why it is unavailable (redacted). */
  readonly error?: string;
  /** http resources: origins the health check has taken out of the balancer (redacted). */
  readonly originsOut?: readonly string[];
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
}

/** Worker -> primary: the answer to a reconfigure or stats message with the same id. */
export interface ReplyMessage {
  readonly type: 'reply';
  readonly id: number;
  readonly ok: boolean;
  readonly error?: { readonly code: string; readonly message: string };
  readonly loads?: readonly PoolLoad[];
  readonly caches?: CacheStats;
}

/**
 * Worker -> primary, every HEARTBEAT_MS from boot: the event loop turned and this is the resident
 * memory. Silence means a blocked loop (the watchdog replaces the process); rss feeds maxRss.
 */
export interface AliveMessage { readonly type: 'alive'; readonly rss: number }

/** How often children send `alive`. */
export const HEARTBEAT_MS = 1000;

export type WorkerMessage = AliveMessage | BootedMessage | ReadyMessage | StartupFailedMessage | EscalateMessage | SupervisionMessage | ResourceMessage | ReplyMessage | InvalidateMessage;

const WORKER_TYPES: ReadonlySet<unknown> = new Set<WorkerMessage['type']>(['alive', 'booted', 'ready', 'startup-failed', 'escalate', 'supervision', 'resource', 'reply', 'invalidate']);
const PRIMARY_TYPES: ReadonlySet<unknown> = new Set<PrimaryMessage['type']>(['start', 'start-pool', 'shutdown', 'pool-down', 'reconfigure', 'stats', 'invalidate', 'invalidated']);

/** Narrow an IPC payload to a worker message (anything else is ignored). */
export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  return WORKER_TYPES.has((msg as { type?: unknown } | null)?.type);
}

/** Narrow an IPC payload to a primary message. */
export function isPrimaryMessage(msg: unknown): msg is PrimaryMessage {
  return PRIMARY_TYPES.has((msg as { type?: unknown } | null)?.type);
}

/** File descriptor at which front workers inherit the primary's listening socket (0-2 stdio, 3 IPC). */
export const LISTEN_FD = 4;

/** Exit code a worker uses when it escalates a failure to its supervisor (the primary). */
export const EXIT_ESCALATE = 70;
/** Exit code of a worker whose start-up failed. */
export const EXIT_STARTUP = 78;
