import { ActorrtError } from './errors.js';
import type { Logger } from './logger.js';
import {
  EXIT_ESCALATE, EXIT_STARTUP, isPrimaryMessage, type PoolLoad, type PrimaryMessage, type ReconfigureMessage, type ShutdownMessage, type WorkerMessage,
} from './protocol.js';

/** A child process's side of its link to the primary: lifecycle messages in, reports and replies out. */

/** Send a message to the primary, if it is still there. */
export function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

/** How a child process of the primary (front worker or pool process) reacts to it. */
export interface RoleHandlers<Start extends PrimaryMessage> {
  /** The start message this role expects. */
  readonly startType: Start['type'];
  start(msg: Start): Promise<void>;
  /** Apply a new topology; the primary waits for the reply before it goes on with a reload. */
  reconfigure(msg: ReconfigureMessage): Promise<void>;
  /** Load of the pools running here (for status). */
  loads(): PoolLoad[];
  poolDown(pool: string, reason: string): void;
  /** Drain and exit with `exitCode()`; called once per reason, must tolerate repeats. */
  shutdown(timeout: number, mode: ShutdownMessage['mode']): Promise<void>;
}

/**
 * Wire a child process to the primary: start / reconfigure / stats / pool-down / shutdown
 * messages, start-up failure reporting, drain when the primary disappears, crash on unhandled
 * errors, then the `booted` handshake. Reconfigurations are applied one at a time, in arrival
 * order. Signals are ignored: a terminal's Ctrl-C reaches the whole process group, and the
 * primary coordinates an orderly drain.
 */
export function serveRole<Start extends PrimaryMessage>(log: Logger, on: RoleHandlers<Start>): void {
  let applying: Promise<void> = Promise.resolve();
  process.on('message', (msg: unknown) => {
    if (!isPrimaryMessage(msg)) return;
    switch (msg.type) {
      case 'reconfigure': {
        const { id } = msg;
        applying = applying.then(() => on.reconfigure(msg)).then(() => send({ type: 'reply', id, ok: true }), (err: unknown) => {
          const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_INTERNAL', (err as Error).message ?? String(err));
          if (!(err instanceof ActorrtError)) log.error({ err }, 'reconfigure failed');
          send({ type: 'reply', id, ok: false, error: { code: e.code, message: e.message } });
        });
        break;
      }
      case 'stats': send({ type: 'reply', id: msg.id, ok: true, loads: on.loads() }); break;
      case 'pool-down': on.poolDown(msg.pool, msg.reason); break;
      case 'shutdown': void on.shutdown(msg.timeout, msg.mode); break;
      default:
        if (msg.type === on.startType) on.start(msg as Start).catch((err: unknown) => reportStartupFailure(log, err));
    }
  });
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('disconnect', () => { void on.shutdown(10_000, 'stop'); });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection; exiting');
    process.exit(1);
  });
  // Handshake: the primary learns of a fork before this module has loaded, so a start message
  // sent then would be lost. Ask for it only now that the listener above is in place.
  send({ type: 'booted' });
}

/** A pool's failures exceeded its supervision here: tell the primary, then drain and exit with EXIT_ESCALATE. */
export function escalateToPrimary(pool: string, reason: string, shutdown: (timeout: number, mode: ShutdownMessage['mode'], code: number) => Promise<void>): void {
  send({ type: 'escalate', pool, reason });
  void shutdown(5000, 'stop', EXIT_ESCALATE);
}

/** Tell the primary why start-up failed, then exit: the primary decides about restarting. */
function reportStartupFailure(log: Logger, err: unknown): void {
  const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_STARTUP', (err as Error).message ?? String(err), { cause: err });
  log.error({ err }, 'start-up failed');
  send({ type: 'startup-failed', code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) });
  setImmediate(() => process.exit(EXIT_STARTUP));
}
