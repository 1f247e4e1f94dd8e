import type { Config } from '../../config/types.js';
import type { ErrorCode } from '../errors.js';
import type { CacheStats, Endpoints, Invalidation, MetricsSnapshot, PoolLoad, ProfileKind, ProfileWritten, SupervisionEvent } from './shapes.js';

/**
 * Every message between the primary and its child processes (front workers and isolated pool
 * processes), over the IPC channel node:child_process opens. The primary never carries request
 * traffic: these are lifecycle and control messages only. Whatever arrives is checked field by
 * field by `decode.ts` before it is used; the types below are what the decoders guarantee.
 */

/** Primary -> front worker: the validated topology to run (sent once, after the worker booted). */
export interface StartMessage {
  readonly type: 'start';
  /** The primary's PROTOCOL_VERSION. */
  readonly protocol: number;
  readonly config: Config;
  readonly workerIndex: number;
  /** The primary's listening socket, inherited at this file descriptor (bound once for the instance's life). */
  readonly listenFd: number;
  /** This worker's slot on the connection board (inherited at BOARD_FD; see runtime/spread/board.ts). */
  readonly boardSlot: number;
  readonly endpoints: Endpoints;
  /** Where to serve this worker's inline pools to pool processes (used when `endpoints` names them). */
  readonly socket: string;
  /** Isolated pools already given up, with the reason. */
  readonly down: Readonly<Record<string, string>>;
}
/** Primary -> pool process: run pool `pool` (process `index`) and serve it on `socket`. */
export interface StartPoolMessage {
  readonly type: 'start-pool';
  /** The primary's PROTOCOL_VERSION. */
  readonly protocol: number;
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
 * Primary -> child: stop accepting, drain in-flight requests, close, exit 0. `stop` is the whole
 * instance going away (idle connections are closed at once); `retire` is one process leaving a
 * running instance (shrink or roll): peers have already stopped routing to it, so it waits for
 * them to hang up and never closes a keep-alive connection a client may be reusing.
 */
export interface ShutdownMessage { readonly type: 'shutdown'; readonly timeout: number; readonly mode: 'stop' | 'retire' }
/**
 * Primary -> front workers: the instance is stopping and leaves its load balancers first
 * (`http.shutdownDelay`): the readiness path answers 503 and every reply says `Connection: close`,
 * while new connections are still accepted and served. A `shutdown` follows when the delay ends.
 */
export interface LeaveMessage { readonly type: 'leave' }
/** Primary -> front worker: serve the connection sent with this message (another worker's, past its share). */
export interface AdoptMessage { readonly type: 'adopt' }

/** Primary -> running child: apply a new topology (pool sizes and settings, endpoints, routes); answered with a reply. */
export interface ReconfigureMessage {
  readonly type: 'reconfigure';
  readonly id: number;
  readonly config: Config;
  readonly endpoints: Endpoints;
  readonly down: Readonly<Record<string, string>>;
}

/**
 * Primary -> running child: report the load of the pools running here and its cache counts; with
 * `metrics`, also everything it counted (a scrape); answered with a reply. Status, `top` and
 * /metrics read the same reply: one source of truth.
 */
export interface StatsMessage { readonly type: 'stats'; readonly id: number; readonly metrics?: boolean }

/**
 * Both ways. Child -> primary: keys this process invalidated; tell every other process, then
 * answer with `invalidated`. Primary -> every other process: drop them from local (memory) stores;
 * answered with a reply.
 */
export interface InvalidateMessage extends Invalidation {
  readonly type: 'invalidate';
  readonly id: number;
}

/** Primary -> the process that asked: every other process has dropped the keys (or did not answer in time). */
export interface InvalidatedMessage { readonly type: 'invalidated'; readonly id: number }

/**
 * Primary -> running child (`actorrt profile`): profile this process with node:inspector inside it
 * and write the result to `path` itself (a profile never crosses the IPC channel: a large message
 * blocks the primary's event loop while it is parsed); answered with a reply carrying `profile`.
 */
export interface ProfileMessage {
  readonly type: 'profile';
  readonly id: number;
  readonly kind: ProfileKind;
  /** How long to sample, in ms (cpu, heap; a heap snapshot is taken at once). */
  readonly duration: number;
  /** Absolute path of the file to write. */
  readonly path: string;
  /** The process's maxRss in bytes, if it has one (a heap snapshot must fit below it). */
  readonly maxRss?: number;
}

/**
 * Primary -> every child: the instance is cut off from the invalidation bus (`cutOff`: memory
 * entries stored longer ago than bus.staleness are misses) or back (its memory stores were
 * flushed first). Sent on each change, and to a process that starts while cut off.
 */
export interface BusStateMessage { readonly type: 'bus'; readonly cutOff: boolean }

/** Primary -> the front worker that asked (`scrape`): the instance's metrics as text, or why there are none. */
export interface ScrapedMessage {
  readonly type: 'scraped';
  readonly id: number;
  readonly contentType?: string;
  readonly body?: string;
  readonly error?: string;
}

export type PrimaryMessage = StartMessage | StartPoolMessage | ShutdownMessage | LeaveMessage | AdoptMessage | PoolDownMessage | ReconfigureMessage | StatsMessage | InvalidateMessage | InvalidatedMessage
  | ScrapedMessage | ProfileMessage | BusStateMessage;

/** The calls the primary makes (it adds the id): each is answered by one `reply`. */
export type CallMessage = Omit<ReconfigureMessage, 'id'> | Omit<InvalidateMessage, 'id'> | Omit<StatsMessage, 'id'> | Omit<ProfileMessage, 'id'>;

/** Child -> primary, first: the child's code is loaded and listening for its start message. */
export interface BootedMessage {
  readonly type: 'booted';
  /** The child's PROTOCOL_VERSION. */
  readonly protocol: number;
  /** The child's actorrt package version (named in a version mismatch). */
  readonly version: string;
}
/** Child -> primary: pools started, resources open, server listening (`port` is 0 for a pool process). */
export interface ReadyMessage { readonly type: 'ready'; readonly port: number; readonly pools: readonly string[] }
/** Child -> primary: start-up failed; the primary reports it and does not respawn in a hot loop. */
export interface StartupFailedMessage { readonly type: 'startup-failed'; readonly code: ErrorCode; readonly message: string; readonly hint?: string }
/** Child -> primary: an actor's restart intensity was exceeded; the process is about to exit. */
export interface EscalateMessage { readonly type: 'escalate'; readonly pool: string; readonly reason: string }

/** Child -> primary: supervision acted on actors of `pool` here (counted for status and metrics). */
export interface SupervisionMessage { readonly type: 'supervision'; readonly pool: string; readonly event: SupervisionEvent; readonly count: number }

/** Child -> primary: a resource of this process became unreachable, came back, or had upstream origins taken out / put back. */
export interface ResourceMessage {
  readonly type: 'resource';
  readonly resource: string;
  readonly available: boolean;
  /** Why it is unavailable (redacted). */
  readonly error?: string;
  /** http resources: origins the health check has taken out of the balancer (redacted). */
  readonly originsOut?: readonly string[];
}

/** Child -> primary: the answer to a reconfigure, stats, invalidate or profile message with the same id. */
export interface ReplyMessage {
  readonly type: 'reply';
  readonly id: number;
  readonly ok: boolean;
  readonly error?: { readonly code: ErrorCode; readonly message: string; readonly hint?: string };
  readonly loads?: readonly PoolLoad[];
  readonly caches?: CacheStats;
  readonly metrics?: MetricsSnapshot;
  /** A profile: the file the child wrote. */
  readonly profile?: ProfileWritten;
}

/**
 * Child -> primary, once, as a process that drains stops serving: its final counts, so the
 * instance's counters keep what it counted since the last scrape (they stay monotonic).
 */
export interface FinalMetricsMessage { readonly type: 'final-metrics'; readonly metrics: MetricsSnapshot }

/**
 * Child -> primary, every HEARTBEAT_MS from boot: the event loop turned and this is the resident
 * memory. Silence means a blocked loop (the watchdog replaces the process); rss feeds maxRss.
 */
export interface AliveMessage { readonly type: 'alive'; readonly rss: number }

/** Front worker -> primary: a client asked for `http.metricsPath`; answered with `scraped`. */
export interface ScrapeMessage { readonly type: 'scrape'; readonly id: number; readonly openMetrics: boolean }

/** Front worker -> primary: a connection it accepted past its share, sent with this message, for the worker holding fewest. */
export interface HandOffMessage { readonly type: 'hand-off' }

export type ChildMessage = HandOffMessage | ScrapeMessage | AliveMessage | BootedMessage | ReadyMessage | StartupFailedMessage | EscalateMessage | SupervisionMessage | ResourceMessage | ReplyMessage | InvalidateMessage
  | FinalMetricsMessage;

/** How often children send `alive`. */
export const HEARTBEAT_MS = 1000;

/** File descriptor at which front workers inherit the primary's listening socket (0-2 stdio, 3 IPC). */
export const LISTEN_FD = 4;
/** File descriptor at which front workers inherit the connection board (runtime/spread/board.ts). */
export const BOARD_FD = 5;

/** Exit code a child uses when it escalates a failure to its supervisor (the primary). */
export const EXIT_ESCALATE = 70;
/** Exit code of a child whose start-up failed. */
export const EXIT_STARTUP = 78;
