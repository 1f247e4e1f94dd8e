import type { Config } from '../config/types.js';

/**
 * Every message between the primary and its worker processes (node:cluster IPC). The primary
 * never carries request traffic: these are lifecycle and control messages only.
 */

/** Primary -> worker: the validated topology to run (sent once, right after fork). */
export interface StartMessage { readonly type: 'start'; readonly config: Config; readonly workerIndex: number; readonly portOverride?: number }
/** Primary -> worker: stop accepting, drain in-flight requests, close, exit 0. */
export interface ShutdownMessage { readonly type: 'shutdown'; readonly timeout: number }

export type PrimaryMessage = StartMessage | ShutdownMessage;

/** Worker -> primary: the worker's code is loaded and listening for its start message. */
export interface BootedMessage { readonly type: 'booted' }
/** Worker -> primary: pools started, resources open, server listening. */
export interface ReadyMessage { readonly type: 'ready'; readonly port: number; readonly pools: readonly string[] }
/** Worker -> primary: start-up failed; the primary reports it and does not respawn in a hot loop. */
export interface StartupFailedMessage { readonly type: 'startup-failed'; readonly code: string; readonly message: string; readonly hint?: string }
/** Worker -> primary: an actor's restart intensity was exceeded; the process is about to exit. */
export interface EscalateMessage { readonly type: 'escalate'; readonly pool: string; readonly reason: string }

export type WorkerMessage = BootedMessage | ReadyMessage | StartupFailedMessage | EscalateMessage;

/** Narrow an IPC payload to a worker message (anything else is ignored). */
export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return type === 'booted' || type === 'ready' || type === 'startup-failed' || type === 'escalate';
}

/** Narrow an IPC payload to a primary message. */
export function isPrimaryMessage(msg: unknown): msg is PrimaryMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return type === 'start' || type === 'shutdown';
}

/** Exit code a worker uses when it escalates a failure to its supervisor (the primary). */
export const EXIT_ESCALATE = 70;
/** Exit code of a worker whose start-up failed. */
export const EXIT_STARTUP = 78;
