import type { Ref } from 'nact';
import type { ActorCache, ActorRequest } from '../../actors/index.js';
import type { Config, PoolConfig } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Endpoints, PoolLoad } from '../protocol/shapes.js';
import type { Resources } from '../resources/resources.js';
import type { SupervisionEvent } from '../supervision/counters.js';
import { RequestIds } from '../request-id.js';
import { toReply } from '../reply.js';
import { loadActor } from './actor-loader.js';
import { InlinePool } from './inline-pool.js';
import type { Pool } from './pool.js';
import { RemotePool } from './remote-pool.js';
import { ThreadPool } from '../pool-thread/thread-pool.js';
import type { ResourceMessage } from '../protocol/messages.js';
import { actorContext, type Ask } from './actor-context.js';
import { endWith, openSpan, parentOf, SpanKind } from '../trace/tracing.js';
import { childTrace } from '../trace/trace-context.js';

/** What a process gives the pools it hosts. */
export interface PoolHostDeps {
  readonly log: Logger;
  /** nact parent of every local actor. */
  readonly system: Ref<never>;
  /** This process's open resources; actors see those bound to their pool. */
  readonly resources: Resources;
  /** Which pools of a topology run in this process (as nact actors); the rest are reached over channels. */
  local(config: Config): readonly PoolConfig[];
  /** `ctx.caches`, shared by every actor of the process. */
  readonly caches: Readonly<Record<string, ActorCache>>;
  onSupervision(pool: string, event: SupervisionEvent, count: number): void;
  onEscalate(pool: string, reason: string): void;
  /** A thread pool's thread saw one of its resources go down or come back. */
  onResource(change: Omit<ResourceMessage, 'type'>): void;
}

/**
 * The pools of one process (front worker or pool process), by name, kept live: `apply(config)`
 * grows, shrinks and retunes local pools, points remote pools at the current processes, adds new
 * pools and hands back the ones the topology no longer has (or that changed kind) for the caller
 * to drain once nothing routes to them. `ctx.ask` and the channel endpoint read this live map.
 */
export class PoolHost {
  private readonly pools = new Map<string, Pool>();
  private readonly ids = new RequestIds();
  private config: Config | undefined;
  /** Pools taken out by a reload, still draining. */
  private readonly draining = new Set<Promise<void>>();

  constructor(private readonly deps: PoolHostDeps) {}

  /** The pool named `name`, local or remote. */
  get(name: string): Pool | undefined {
    return this.pools.get(name);
  }

  /** A local pool named `name` (what this process serves to its peers): inline, or in this process's threads. */
  local(name: string): Pool | undefined {
    const pool = this.pools.get(name);
    return pool instanceof InlinePool || pool instanceof ThreadPool ? pool : undefined;
  }

  /** A copy of the current name -> pool map (a routing table keeps its own, so requests routed before a change finish on it). */
  snapshot(): ReadonlyMap<string, Pool> {
    return new Map(this.pools);
  }

  /**
   * Make the pools match `config`: local pools in file order (new ones started, ready before they
   * are listed), remote pools on `endpoints`, `down` ones marked. Resolves with the pools to
   * retire; rejects if a new actor's init() fails (what was applied before stays).
   */
  async apply(config: Config, endpoints: Endpoints, down: Readonly<Record<string, string>>): Promise<Pool[]> {
    this.config = config;
    const local = this.deps.local(config);
    const localNames = new Set(local.map((p) => p.name));
    const retired: Pool[] = [];
    const replace = (name: string, pool: Pool): void => {
      const old = this.pools.get(name);
      if (old !== undefined) retired.push(old);
      this.pools.set(name, pool);
    };
    for (const [name, paths] of Object.entries(endpoints)) {
      const pool = config.pools[name];
      if (pool === undefined || localNames.has(name)) continue;
      const existing = this.pools.get(name);
      if (existing instanceof RemotePool) {
        existing.reconfigure(pool);
        existing.setEndpoints(paths);
        if (down[name] === undefined) existing.markUp(); // a reload revived it
      } else {
        replace(name, new RemotePool(pool, paths, this.deps.log));
      }
    }
    for (const pool of local) {
      const existing = this.pools.get(pool.name);
      if (existing instanceof InlinePool && pool.threads === undefined && sameCode(existing.config, pool)) {
        await existing.reconfigure(pool);
        continue;
      }
      // A new heap bound needs new threads, as new code does: the pool is replaced, the old one drains.
      if (existing instanceof ThreadPool && pool.threads !== undefined && sameCode(existing.config, pool) && existing.config.maxHeap === pool.maxHeap) {
        await existing.reconfigure(pool, config);
        continue;
      }
      const started = await this.startLocal(config, pool);
      replace(pool.name, started);
    }
    for (const [name, reason] of Object.entries(down)) this.markDown(name, reason);
    this.meterAutoscaled();
    for (const [name, pool] of this.pools) {
      if (localNames.has(name) || (config.pools[name] !== undefined && endpoints[name] !== undefined)) continue;
      this.pools.delete(name);
      retired.push(pool);
    }
    return retired;
  }

  /** The supervisor gave up on pool `name`: its remote handle answers POOL_DOWN with `reason` from now on. */
  markDown(name: string, reason: string): void {
    const pool = this.pools.get(name);
    if (pool instanceof RemotePool) pool.markDown(reason);
  }

  /** Load of every local pool, for `actorrt status`. */
  loads(): PoolLoad[] {
    const out: PoolLoad[] = [];
    for (const pool of this.pools.values()) {
      if (pool instanceof InlinePool || pool instanceof ThreadPool) {
        out.push({ pool: pool.name, actors: pool.actors, depth: pool.depth, busy: pool.busy, completed: pool.completed, ...pool.metered });
      }
    }
    return out;
  }

  /** Drain and stop pools `apply` handed back, in the background (once nothing routes to them); `close` waits for them. */
  retire(pools: readonly Pool[]): void {
    for (const pool of pools) {
      const stopping = pool.stop(pool.config.drainTimeout).catch((err: unknown) => this.deps.log.warn({ pool: pool.name, err }, 'stopping a retired pool failed'));
      this.draining.add(stopping);
      void stopping.finally(() => this.draining.delete(stopping));
    }
  }

  /** Integrate the load of autoscaled local pools only (the autoscaler reads it through `loads()`). */
  private meterAutoscaled(): void {
    for (const pool of this.pools.values()) {
      if (pool instanceof InlinePool || pool instanceof ThreadPool) pool.meter(pool.config.autoscale !== undefined);
    }
  }

  /** Stop every pool in reverse start order (and let retired ones finish draining). */
  async close(timeout: number): Promise<void> {
    for (const pool of [...this.pools.values()].reverse()) await pool.stop(timeout);
    await Promise.all(this.draining);
  }

  private async startLocal(config: Config, pool: PoolConfig): Promise<InlinePool | ThreadPool> {
    const { deps } = this;
    if (pool.threads !== undefined) {
      const threads = new ThreadPool(pool, config, {
        log: deps.log, caches: deps.caches, pools: (name) => this.pools.get(name),
        onSupervision: (event, count) => deps.onSupervision(pool.name, event, count), onEscalate: deps.onEscalate, onResource: deps.onResource,
      });
      await threads.start();
      return threads;
    }
    const actor = await loadActor(pool.actor);
    const bound = deps.resources.clientsFor(pool.resources);
    const inline = new InlinePool(pool, actor, {
      parent: deps.system,
      log: deps.log,
      contextFor: (index, current) => actorContext({ log: deps.log, caches: deps.caches, ask: this.ask }, pool.name, index, bound, current),
      resourceFailure: (err) => deps.resources.failureOf(err, pool.resources),
      onSupervision: (event, count) => deps.onSupervision(pool.name, event, count),
      onEscalate: deps.onEscalate,
    });
    await inline.start();
    return inline;
  }

  /**
   * ctx.ask from an actor of this process: the pool is looked up live. Its trace: an isolated or
   * thread pool makes the asked actor's span under the asker's (or under a new trace's root, for an
   * ask outside of any request: from init()); an inline one gets an `ask` span of its own here.
   */
  private readonly ask: Ask = async (target, message, options, asker) => {
    const to = this.pools.get(target);
    if (to === undefined) {
      throw new ActorrtError('ACTORRT_E_UNKNOWN_POOL', `ctx.ask("${target}"): no such pool`, { hint: `declared pools: ${Object.keys(this.config?.pools ?? {}).join(', ')}` });
    }
    // An ask has no client of its own (the asking actor has its request's ip and protocol, to pass on in the message if wanted).
    const requestId = this.ids.next();
    const trace = asker?.trace;
    const opened = to instanceof InlinePool
      ? openSpan(`ask ${target}`, SpanKind.INTERNAL, trace === undefined ? undefined : parentOf(trace), { 'actorrt.pool': target, 'actorrt.request_id': requestId })
      : { trace: trace ?? childTrace(undefined), span: undefined };
    const req: ActorRequest = { method: 'ASK', path: '', params: {}, query: {}, headers: {}, body: message, requestId, ip: '', protocol: 'http', trace: opened.trace };
    return toReply(await endWith(opened.span, to.dispatch(req, options.timeout ?? to.config.timeout))).body;
  };
}

/** Whether a running local pool can take `next` in place: same module, same resources (anything else is rolled). */
function sameCode(current: PoolConfig, next: PoolConfig): boolean {
  return current.actor === next.actor && current.resources.length === next.resources.length && current.resources.every((r, i) => r === next.resources[i]);
}
