import type { ActorCache, ActorContext, ActorRequest, AskOptions } from '../../actors/index.js';
import type { Logger } from '../logger.js';
import { actorLogger } from './actor-logger.js';

/**
 * How an actor's `ctx.ask` reaches another pool: `asker` is the request the asking actor handles
 * now (undefined from init()), whose trace the ask joins. A front worker or pool process looks the
 * pool up in its PoolHost; a worker thread sends the ask to its front worker.
 */
export type Ask = (target: string, message: unknown, options: AskOptions, asker: ActorRequest | undefined) => Promise<unknown>;

/** What every actor of a process (or thread) shares. */
export interface ActorContextDeps {
  readonly log: Logger;
  readonly caches: Readonly<Record<string, ActorCache>>;
  readonly ask: Ask;
  /** Thread pools: the worker thread the actor runs in (ctx.self.thread). */
  readonly thread?: number;
}

/**
 * The `ctx` an actor sees: its resources, a logger whose lines carry the current request's ids,
 * where it runs, the caches and ask(). `current` is the request the actor handles now.
 */
export function actorContext(deps: ActorContextDeps, pool: string, index: number, resources: Readonly<Record<string, unknown>>,
  current: () => ActorRequest | undefined): ActorContext<unknown> {
  const { log } = deps;
  return {
    resources,
    // A pool process's logger already names its pool: a second `pool` key would repeat it in every line (strict JSON tools reject that).
    log: actorLogger(log.child(log.bindings()['pool'] === pool ? { actor: index } : { pool, actor: index }), current),
    self: Object.freeze(deps.thread === undefined ? { pool, index, pid: process.pid } : { pool, index, pid: process.pid, thread: deps.thread }),
    caches: deps.caches,
    ask: async <T>(target: string, message: unknown, options: AskOptions = {}): Promise<T> => (await deps.ask(target, message, options, current())) as T,
  };
}
