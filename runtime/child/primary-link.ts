import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { VERSION } from '../version.js';
import { BadField, decodePrimaryMessage } from '../protocol/decode.js';
import {
  EXIT_ESCALATE, EXIT_STARTUP, HEARTBEAT_MS, type ChildMessage, type InvalidatedMessage, type PrimaryMessage, type ReconfigureMessage, type ShutdownMessage, type StartMessage,
  type ScrapedMessage, type StartPoolMessage,
} from '../protocol/messages.js';
import type { CacheStats, Invalidation, MetricsSnapshot, PoolLoad } from '../protocol/shapes.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { takeProfile } from '../profile/profiler.js';
import { isConnectionHandle, type ConnectionHandle } from '../spread/board.js';

/** How long a process waits for the primary to confirm that every other process dropped invalidated keys. */
export const INVALIDATE_WAIT_MS = 3000;
/** How long a draining process waits for its final metrics to be written before it exits. */
const FINAL_WAIT_MS = 500;
/** How long a process that hit an uncaught exception lets its in-flight requests finish. */
const CRASH_DRAIN_MS = 5000;

/**
 * A child process's side of its link to the primary (the mirror of primary/child-link.ts):
 * lifecycle messages in, checked at the boundary; reports and replies out.
 */

/**
 * Send a message to the primary, if it is still there; `written` runs once it is written, or at
 * once when it cannot be. A failed write means the primary is gone: `disconnect` follows and
 * drains this process.
 */
export function send(message: ChildMessage, written: () => void = () => undefined): void {
  if (!process.connected || process.send === undefined) {
    written();
    return;
  }
  try {
    process.send(message, undefined, undefined, () => written());
  } catch {
    // The channel closed between the check and the write: the disconnect handler takes over.
    written();
  }
}

/**
 * Send a connection (an accepted TCP handle) to the primary with `message`. node:child_process
 * sends libuv handles as they are (its typings only know sockets and servers) and, unlike a
 * socket, never closes the sender's copy: this process closes it once the message is written (the
 * descriptor is in the primary's hands then). Kept, it leaked a descriptor per hand-off and held
 * the connection open after the worker serving it had closed it. One that cannot be written goes
 * to `unsent` (the primary is gone: this process serves it or closes it).
 */
export function sendConnection(message: ChildMessage, handle: ConnectionHandle, unsent: (handle: ConnectionHandle) => void): void {
  if (!process.connected || process.send === undefined) {
    unsent(handle);
    return;
  }
  try {
    process.send(message, handle as unknown as import('node:net').Socket, {}, (err: Error | null) => {
      if (err === null) handle.close();
      else unsent(handle);
    });
  } catch {
    unsent(handle); // the channel closed between the check and the write: the disconnect handler takes over
  }
}

/** How a child process of the primary (front worker or pool process) reacts to it. */
export interface RoleHandlers<Start extends StartMessage | StartPoolMessage> {
  /** The start message this role expects. */
  readonly startType: Start['type'];
  start(msg: Start): Promise<void>;
  /** Apply a new topology; the primary waits for the reply before it goes on with a reload. */
  reconfigure(msg: ReconfigureMessage): Promise<void>;
  /** Load of the pools running here (for status). */
  loads(): PoolLoad[];
  /** Cache counts of this process (for status). */
  caches(): CacheStats;
  /** Everything this process counted, from the loads and cache counts just taken (a scrape). */
  metrics(loads: readonly PoolLoad[], caches: CacheStats): MetricsSnapshot;
  /** Another process invalidated keys: drop them here. */
  invalidate(inv: Invalidation): Promise<void>;
  poolDown(pool: string, reason: string): void;
  /** The instance is cut off from the invalidation bus (memory entries older than bus.staleness are misses), or back. */
  cutOff(cut: boolean): void;
  /** The instance is stopping: leave the load balancers (front workers; other roles are never told). */
  leave?(): void;
  /** A connection the primary rehomed here (front workers; sent with `adopt`). */
  adopt?(handle: ConnectionHandle): void;
  /** Drain and exit (with `code` when non-zero); called once per reason, must tolerate repeats. */
  shutdown(timeout: number, mode: ShutdownMessage['mode'], code?: number): Promise<void>;
}

/**
 * Wire a child process to the primary: start / reconfigure / stats / profile / pool-down / shutdown
 * messages, start-up failure reporting, drain when the primary disappears, crash on unhandled
 * errors, then the `booted` handshake. Reconfigurations are applied one at a time, in arrival
 * order. Signals are ignored: a terminal's Ctrl-C reaches the whole process group, and the
 * primary coordinates an orderly drain.
 */
export function serveRole<Start extends StartMessage | StartPoolMessage>(log: Logger, on: RoleHandlers<Start>): void {
  let applying: Promise<void> = Promise.resolve();
  let started = false;
  const isStart = (msg: PrimaryMessage): msg is Start => msg.type === on.startType;
  process.on('message', (raw: unknown, handle: unknown) => {
    let msg: PrimaryMessage;
    try {
      msg = decodePrimaryMessage(raw);
    } catch (err) {
      if (!(err instanceof BadField)) throw err;
      log.error({ code: 'ACTORRT_E_BAD_MESSAGE', err: err.message }, 'dropped a message from the primary that failed its check');
      return;
    }
    switch (msg.type) {
      case 'reconfigure': {
        const { id } = msg;
        applying = applying.then(() => on.reconfigure(msg)).then(() => send({ type: 'reply', id, ok: true }), (err: unknown) => {
          const e = asActorrtError(err, 'ACTORRT_E_INTERNAL');
          if (!(err instanceof ActorrtError)) log.error({ err }, 'reconfigure failed');
          send({ type: 'reply', id, ok: false, error: { code: e.code, message: e.message } });
        });
        break;
      }
      case 'stats': {
        const loads = on.loads();
        const caches = on.caches();
        send({ type: 'reply', id: msg.id, ok: true, loads, caches, ...(msg.metrics === true ? { metrics: on.metrics(loads, caches) } : {}) });
        break;
      }
      case 'invalidate': {
        const { id } = msg;
        on.invalidate({ keys: msg.keys, prefixes: msg.prefixes, ...(msg.stores === undefined ? {} : { stores: msg.stores }) }).then(() => send({ type: 'reply', id, ok: true }), (err: unknown) => {
          log.warn({ err }, 'could not apply an invalidation');
          send({ type: 'reply', id, ok: false, error: { code: 'ACTORRT_E_INTERNAL', message: err instanceof Error ? err.message : String(err) } });
        });
        break;
      }
      case 'invalidated': answered(msg); break;
      case 'profile': {
        const { id, kind, duration, path, maxRss } = msg;
        takeProfile({ kind, duration, path, ...(maxRss === undefined ? {} : { maxRss }) }, log).then((profile) => send({ type: 'reply', id, ok: true, profile }), (err: unknown) => {
          const e = asActorrtError(err, 'ACTORRT_E_INTERNAL');
          if (!(err instanceof ActorrtError)) log.error({ err }, 'a profile failed');
          send({ type: 'reply', id, ok: false, error: { code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) } });
        });
        break;
      }
      case 'scraped': answered(msg); break;
      case 'pool-down': on.poolDown(msg.pool, msg.reason); break;
      case 'bus': on.cutOff(msg.cutOff); break;
      case 'leave': on.leave?.(); break;
      case 'adopt': {
        if (!isConnectionHandle(handle)) log.error({ code: 'ACTORRT_E_BAD_MESSAGE' }, 'dropped an adopt message that carried no connection');
        else if (on.adopt === undefined) handle.close();
        else on.adopt(handle);
        break;
      }
      case 'shutdown': void on.shutdown(msg.timeout, msg.mode); break;
      default:
        if (!isStart(msg) || started) {
          log.error({ code: 'ACTORRT_E_BAD_MESSAGE', type: msg.type }, 'dropped a start message this process does not expect');
          return;
        }
        started = true;
        if (msg.protocol !== PROTOCOL_VERSION) {
          reportStartupFailure(log, new ActorrtError('ACTORRT_E_PROTOCOL_VERSION',
            `this ${on.startType === 'start' ? 'front worker' : 'pool process'} (actorrt ${VERSION}) speaks protocol ${PROTOCOL_VERSION}; the primary speaks protocol ${msg.protocol}`,
            { hint: 'restart the instance (actorrt stop, then actorrt start) to run one version' }));
          return;
        }
        on.start(msg).catch((err: unknown) => reportStartupFailure(log, err));
    }
  });
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('disconnect', () => { void on.shutdown(10_000, 'stop'); });
  // An exception thrown outside any request (an actor's timer, an event handler) may have left
  // this process in any state: stop taking work, let what is in flight finish, exit 1 and be
  // replaced. Exiting at once would fail every request the process holds for one stray throw.
  process.on('uncaughtException', (err) => {
    log.fatal({ err, event: 'uncaught-exception' }, 'uncaught exception: draining what is in flight, then exiting');
    setTimeout(() => process.exit(1), CRASH_DRAIN_MS + 1000).unref();
    void on.shutdown(CRASH_DRAIN_MS, 'stop', 1);
  });
  // A rejected promise nobody awaited cannot have interrupted anything: it is logged and the
  // process keeps serving (Node's default would exit).
  process.on('unhandledRejection', (err) => {
    log.error({ err: err instanceof Error ? err : { value: String(err) }, event: 'unhandled-rejection' }, 'unhandled promise rejection (a promise an actor did not await); serving on');
  });
  // The watchdog's evidence that this event loop still turns (a timer cannot fire in a blocked loop).
  setInterval(() => send({ type: 'alive', rss: process.memoryUsage.rss() }), HEARTBEAT_MS).unref();
  // Handshake: the primary learns of a fork before this module has loaded, so a start message
  // sent then would be lost. Ask for it only now that the listener above is in place; the
  // versions tell the primary whether this child speaks its protocol at all.
  send({ type: 'booted', protocol: PROTOCOL_VERSION, version: VERSION });
}

/** The primary's answers to what this process asked it, by the id the question carried. */
type Answer = InvalidatedMessage | ScrapedMessage;
const awaiting = new Map<number, (answer: Answer | undefined) => void>();
let nextQuestion = 1;

/**
 * Send the primary a question (built with its id) and resolve with its answer, or with undefined
 * after `timeout` ms: the one request / answer table for invalidations and scrapes.
 */
function askPrimary(question: (id: number) => ChildMessage, timeout: number): Promise<Answer | undefined> {
  const id = nextQuestion++;
  return new Promise((resolve) => {
    const settle = (answer: Answer | undefined): void => {
      clearTimeout(timer);
      awaiting.delete(id);
      resolve(answer);
    };
    const timer = setTimeout(() => settle(undefined), timeout);
    awaiting.set(id, settle);
    send(question(id));
  });
}

function answered(msg: Answer): void {
  awaiting.get(msg.id)?.(msg);
}

/**
 * Have every other process of the instance drop `inv` from its memory stores, through the primary;
 * resolves once each has (or after INVALIDATE_WAIT_MS: a process that hangs must not hold up the
 * reply, and one that is gone has no entries left). Without a primary there is nobody to tell.
 */
export function invalidateElsewhere(inv: Invalidation): Promise<void> {
  if (!process.connected || (inv.keys.length === 0 && inv.prefixes.length === 0)) return Promise.resolve();
  return askPrimary((id) => ({ type: 'invalidate', id, keys: inv.keys, prefixes: inv.prefixes, ...(inv.stores === undefined ? {} : { stores: inv.stores }) }),
    INVALIDATE_WAIT_MS).then(() => undefined);
}

/**
 * A draining process's last word: what it counted since the last scrape, so the instance's counters
 * keep it (they stay monotonic). Resolves once the message is written, or at once without a
 * primary, and after FINAL_WAIT_MS at most: exiting must not wait on a stuck channel.
 */
export function sendFinalMetrics(metrics: MetricsSnapshot): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, FINAL_WAIT_MS);
    send({ type: 'final-metrics', metrics }, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
/** How long a front worker waits for the primary's metrics (a scrape waits at most 250 ms per process). */
const SCRAPE_WAIT_MS = 5000;

/** The instance's metrics, rendered by the primary, for a client of `http.metricsPath`. Rejects with ACTORRT_E_METRICS_UNAVAILABLE. */
export async function scrapeInstance(openMetrics: boolean): Promise<{ contentType: string; body: string }> {
  if (!process.connected) throw new ActorrtError('ACTORRT_E_METRICS_UNAVAILABLE', 'this worker has lost its primary');
  const answer = await askPrimary((id) => ({ type: 'scrape', id, openMetrics }), SCRAPE_WAIT_MS);
  if (answer === undefined) throw new ActorrtError('ACTORRT_E_METRICS_UNAVAILABLE', `the primary did not send the metrics within ${SCRAPE_WAIT_MS} ms`);
  if (answer.type !== 'scraped' || answer.body === undefined || answer.contentType === undefined) {
    throw new ActorrtError('ACTORRT_E_METRICS_UNAVAILABLE', `the primary could not collect the metrics: ${answer.type === 'scraped' ? answer.error ?? 'no answer' : 'no answer'}`);
  }
  return { contentType: answer.contentType, body: answer.body };
}

/** A pool's failures exceeded its supervision here: tell the primary, then drain and exit with EXIT_ESCALATE. */
export function escalateToPrimary(pool: string, reason: string, shutdown: (timeout: number, mode: ShutdownMessage['mode'], code: number) => Promise<void>): void {
  send({ type: 'escalate', pool, reason });
  void shutdown(5000, 'stop', EXIT_ESCALATE);
}

function asActorrtError(err: unknown, code: 'ACTORRT_E_INTERNAL' | 'ACTORRT_E_STARTUP'): ActorrtError {
  if (err instanceof ActorrtError) return err;
  return new ActorrtError(code, err instanceof Error ? err.message : String(err), { cause: err });
}

/** Tell the primary why start-up failed, then exit: the primary decides about restarting. */
function reportStartupFailure(log: Logger, err: unknown): void {
  const e = asActorrtError(err, 'ACTORRT_E_STARTUP');
  log.error({ err, code: e.code, event: 'startup-failed' }, 'start-up failed');
  send({ type: 'startup-failed', code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) });
  setImmediate(() => process.exit(EXIT_STARTUP));
}
