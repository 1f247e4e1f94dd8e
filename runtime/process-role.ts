import type { Ref } from 'nact';
import type { ActorContext, ActorRequest } from '../actors/index.js';
import type { Config, PoolConfig } from '../config/types.js';
import { ActorrtError } from './errors.js';
import type { Logger } from './logger.js';
import { loadActor } from './pool/actor-loader.js';
import { InlinePool } from './pool/inline-pool.js';
import type { Pool } from './pool/pool.js';
import { RemotePool } from './pool/remote-pool.js';
import type { Resources } from './resources/resources.js';
import { EXIT_ESCALATE, EXIT_STARTUP, isPrimaryMessage, type Endpoints, type PrimaryMessage, type WorkerMessage } from './protocol.js';
import { RequestIds } from './worker/request-id.js';
import { toReply } from './worker/responses.js';

/** What front workers and pool processes share: pools, actor contexts, start-up reporting. */

/** Send a message to the primary, if it is still there. */
export function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

/** What a process needs to build its pools. */
export interface PoolSetup {
  readonly config: Config;
  /** Pools that run here as nact actors, started in file order. */
  readonly local: readonly PoolConfig[];
  readonly endpoints: Endpoints;
  readonly log: Logger;
  readonly system: Ref<never>;
  /** This process's open resources; actors see those bound to their pool. */
  readonly resources: Resources;
  onEscalate(pool: string, reason: string): void;
}

/**
 * The pools this process can reach: `local` ones run here as nact actors (started in file
 * order); every isolated pool in `endpoints` that is not local is reached over its channels.
 */
export async function buildPools(setup: PoolSetup): Promise<Map<string, Pool>> {
  const { config, local, endpoints, log, resources } = setup;
  const pools = new Map<string, Pool>();
  const ids = new RequestIds();
  for (const [name, paths] of Object.entries(endpoints)) {
    const pool = config.pools[name];
    if (pool !== undefined && !local.includes(pool)) pools.set(name, new RemotePool(pool, paths, log));
  }
  for (const pool of local) {
    const actor = await loadActor(pool.actor);
    const bound = resources.clientsFor(pool.resources);
    const inline = new InlinePool(pool, actor, {
      parent: setup.system,
      log,
      contextFor: (index) => actorContext(config, pool.name, index, bound, pools, ids, log),
      resourceFailure: (err) => resources.failureOf(err, pool.resources),
      onSupervision: (event, count) => send({ type: 'supervision', pool: pool.name, event, count }),
      onEscalate: setup.onEscalate,
    });
    await inline.start();
    pools.set(pool.name, inline);
  }
  return pools;
}

/** The supervisor gave up on pool `name`: its remote handle answers POOL_DOWN with `reason` from now on. */
export function markDown(pools: ReadonlyMap<string, Pool>, name: string, reason: string): void {
  const pool = pools.get(name);
  if (pool instanceof RemotePool) pool.markDown(reason);
}

/** Stop pools in reverse start order. */
export async function closePools(pools: ReadonlyMap<string, Pool>, timeout: number): Promise<void> {
  for (const pool of [...pools.values()].reverse()) await pool.stop(timeout);
}

/** The `ctx` an actor sees: its resources, a logger, where it runs, and ask() to other pools. */
function actorContext(config: Config, pool: string, index: number, resources: Readonly<Record<string, unknown>>, pools: ReadonlyMap<string, Pool>,
  ids: RequestIds, log: Logger): ActorContext<unknown> {
  return {
    resources,
    log: log.child({ pool, actor: index }),
    self: Object.freeze({ pool, index, pid: process.pid }),
    async ask<T>(target: string, message: unknown, options: { timeout?: number } = {}): Promise<T> {
      const to = pools.get(target);
      if (to === undefined) {
        throw new ActorrtError('ACTORRT_E_UNKNOWN_POOL', `ctx.ask("${target}"): no such pool`, { hint: `declared pools: ${Object.keys(config.pools).join(', ')}` });
      }
      const req: ActorRequest = { method: 'ASK', path: '', params: {}, query: {}, headers: {}, body: message, requestId: ids.next() };
      return toReply(await to.dispatch(req, options.timeout ?? to.config.timeout)).body as T;
    },
  };
}

/** How a child process of the primary (front worker or pool process) reacts to it. */
export interface RoleHandlers<Start extends PrimaryMessage> {
  /** The start message this role expects. */
  readonly startType: Start['type'];
  start(msg: Start): Promise<void>;
  poolDown(pool: string, reason: string): void;
  /** Drain and exit with `exitCode()`; called once per reason, must tolerate repeats. */
  shutdown(timeout: number): Promise<void>;
}

/**
 * Wire a child process to the primary: start / pool-down / shutdown messages, start-up failure
 * reporting, drain when the primary disappears, crash on unhandled errors, then the `booted`
 * handshake. Signals are ignored: a terminal's Ctrl-C reaches the whole process group, and the
 * primary coordinates an orderly drain.
 */
export function serveRole<Start extends PrimaryMessage>(log: Logger, on: RoleHandlers<Start>): void {
  process.on('message', (msg: unknown) => {
    if (!isPrimaryMessage(msg)) return;
    if (msg.type === on.startType) on.start(msg as Start).catch((err: unknown) => reportStartupFailure(log, err));
    else if (msg.type === 'pool-down') on.poolDown(msg.pool, msg.reason);
    else if (msg.type === 'shutdown') void on.shutdown(msg.timeout);
  });
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('disconnect', () => { void on.shutdown(10_000); });
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
export function escalateToPrimary(pool: string, reason: string, shutdown: (timeout: number, code: number) => Promise<void>): void {
  send({ type: 'escalate', pool, reason });
  void shutdown(5000, EXIT_ESCALATE);
}

/** Tell the primary why start-up failed, then exit: the primary decides about restarting. */
function reportStartupFailure(log: Logger, err: unknown): void {
  const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_STARTUP', (err as Error).message ?? String(err), { cause: err });
  log.error({ err }, 'start-up failed');
  send({ type: 'startup-failed', code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) });
  setImmediate(() => process.exit(EXIT_STARTUP));
}
