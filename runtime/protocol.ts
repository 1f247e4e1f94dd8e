import type { Config } from '../config/types.js';
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
  readonly portOverride?: number;
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
/** Primary -> worker: stop accepting, drain in-flight requests, close, exit 0. */
export interface ShutdownMessage { readonly type: 'shutdown'; readonly timeout: number }

export type PrimaryMessage = StartMessage | StartPoolMessage | ShutdownMessage | PoolDownMessage;

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

export type WorkerMessage = BootedMessage | ReadyMessage | StartupFailedMessage | EscalateMessage | SupervisionMessage | ResourceMessage;

/** Narrow an IPC payload to a worker message (anything else is ignored). */
export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return type === 'booted' || type === 'ready' || type === 'startup-failed' || type === 'escalate' || type === 'supervision' || type === 'resource';
}

/** Narrow an IPC payload to a primary message. */
export function isPrimaryMessage(msg: unknown): msg is PrimaryMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return type === 'start' || type === 'start-pool' || type === 'shutdown' || type === 'pool-down';
}

/** Exit code a worker uses when it escalates a failure to its supervisor (the primary). */
export const EXIT_ESCALATE = 70;
/** Exit code of a worker whose start-up failed. */
export const EXIT_STARTUP = 78;
