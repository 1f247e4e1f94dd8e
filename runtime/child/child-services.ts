import { dirname } from 'node:path';
import { start as startActorSystem, stop as stopActorSystem, type Ref } from 'nact';
import type { Config, PoolConfig } from '../../config/types.js';
import { ProcessCaches } from '../cache/process-caches.js';
import { serveEndpoint, type Endpoint } from '../channel/endpoint.js';
import type { Logger } from '../logger.js';
import { escalateToPrimary, invalidateElsewhere, send, type RoleHandlers } from './primary-link.js';
import type { ReconfigureMessage, ShutdownMessage, StartMessage, StartPoolMessage } from '../protocol/messages.js';
import type { MetricsSnapshot, RouteCacheCounts } from '../protocol/shapes.js';
import { childSnapshot } from '../metrics/child-snapshot.js';
import { ProcessVitals } from '../metrics/process-vitals.js';
import { Resources } from '../resources/resources.js';
import { PoolHost } from '../pool/pool-host.js';
import { stallFile } from '../profile/stall.js';
import { StallWatch } from '../profile/stall-watch.js';
import { watchdogOf } from '../supervision/liveness.js';

/** What a child process runs: what it opens and which pools run in it. */
export interface ChildServicesOptions {
  readonly log: Logger;
  /** Resources this process opens (those its local pools are bound to, plus the front's own). */
  readonly resources: readonly string[];
  /** Which pools of a topology run here as actors; the rest are reached over channels. */
  local(config: Config): readonly PoolConfig[];
  /** Which local pools this process serves to its peers on its socket. */
  serves(name: string): boolean;
  /** The process's own drain, run when an actor escalates past its supervision. */
  shutdown(timeout: number, mode: ShutdownMessage['mode'], code: number): Promise<void>;
}

/**
 * What both kinds of child process (front worker, pool process) run actors with: resources,
 * caches, the pool host and the channel endpoint peers reach its pools on. Opened in that order,
 * reconfigured together, closed in reverse.
 */
export class ChildServices {
  private constructor(
    readonly host: PoolHost,
    readonly caches: ProcessCaches,
    /** This process's open resources (a front worker's proxy routes use its upstreams). */
    readonly resources: Resources,
    private readonly endpoint: Endpoint,
    private readonly system: Ref<never>,
    /** The topology in force here (route patterns name the cache counts kept by route index). */
    public config: Config,
    /** The isolated pool this process runs (undefined: a front worker), whose watchdog applies to it. */
    private readonly pool: string | undefined,
    private readonly stalls: StallWatch,
  ) {
    this.busSilence = setInterval(() => this.caches.caches.checkSilence(), BUS_SILENCE_CHECK_MS);
    this.busSilence.unref();
  }

  /** Checks that the primary still says how the invalidation bus is (runtime/cache/caches.ts). */
  private readonly busSilence: NodeJS.Timeout;

  /** Open everything for the topology a start message carries; resolves once every local pool is ready and the endpoint listens. */
  static async open(msg: StartMessage | StartPoolMessage, options: ChildServicesOptions): Promise<ChildServices> {
    const { config } = msg;
    const { log } = options;
    const system = startActorSystem();
    const resources = await Resources.open(config, options.resources, log, (change) => send({ type: 'resource', ...change }));
    const caches = new ProcessCaches(config, log, invalidateElsewhere);
    await caches.caches.open();
    const host = new PoolHost({
      log, system, resources, caches: caches.forActors,
      local: (c) => options.local(c),
      onSupervision: (pool, event, count) => send({ type: 'supervision', pool, event, count }),
      onEscalate: (pool, reason) => escalateToPrimary(pool, reason, options.shutdown),
      onResource: (change) => send({ type: 'resource', ...change }),
    });
    await host.apply(config, msg.endpoints, msg.down);
    const endpoint = await serveEndpoint(msg.socket, (name) => (options.serves(name) ? host.local(name) : undefined), log);
    const pool = msg.type === 'start-pool' ? msg.pool : undefined;
    // Sockets live in the instance's runtime folder, which the primary's watchdog reads stall files from.
    const stalls = new StallWatch({
      file: stallFile(dirname(msg.socket), process.pid), base: dirname(config.file),
      role: pool === undefined ? 'worker' : 'pool', fields: msg.type === 'start-pool' ? { pool: msg.pool, index: msg.index } : { worker: msg.workerIndex },
    }, watchdogOf(config, pool), log);
    return new ChildServices(host, caches, resources, endpoint, system, config, pool, stalls);
  }

  /**
   * Take a new topology: caches, then pools (new ones ready before this goes on). `swap` runs
   * before the pools the topology dropped are retired: a front worker swaps its routing table
   * there, so nothing routes to a pool once it drains.
   */
  async reconfigure(msg: ReconfigureMessage, swap?: (host: PoolHost) => void): Promise<void> {
    await this.caches.caches.apply(msg.config);
    this.stalls.configure(watchdogOf(msg.config, this.pool));
    const retired = await this.host.apply(msg.config, msg.endpoints, msg.down);
    this.config = msg.config;
    swap?.(this.host);
    this.host.retire(retired);
  }

  /**
   * Drain within `timeout` ms of `started`, then close. Retiring (the instance goes on): peers
   * have stopped routing here; serve what they already sent until they hang up. Then the pools
   * drain (replies still go out), the endpoint flushes and closes, caches and resources close.
   */
  async close(timeout: number, mode: ShutdownMessage['mode'], started: number): Promise<void> {
    const left = (): number => Math.max(0, timeout - (Date.now() - started));
    if (mode === 'retire') await this.endpoint.peersGone(left());
    await this.host.close(left());
    await this.endpoint.close();
    await this.caches.caches.close();
    await this.resources.close();
    stopActorSystem(this.system);
    await this.stalls.stop();
    clearInterval(this.busSilence);
  }
}

/** How often a process checks that its primary still speaks about the bus. */
const BUS_SILENCE_CHECK_MS = 250;

/**
 * The primary's questions about actors, answered the same way by both kinds of child process
 * (before start-up: nothing yet). `requests`: what a front worker counted of its requests.
 */
export function actorHandlers(actors: () => ChildServices | undefined, routes: () => RouteCacheCounts[] = () => [], requests?: () => MetricsSnapshot | undefined):
  Pick<RoleHandlers<StartMessage | StartPoolMessage>, 'loads' | 'caches' | 'metrics' | 'invalidate' | 'poolDown' | 'cutOff'> {
  const vitals = new ProcessVitals();
  return {
    loads: () => actors()?.host.loads() ?? [],
    caches: () => actors()?.caches.stats(routes()) ?? { stores: [], routes: [] },
    metrics: (loads, caches) => {
      const counted = requests?.();
      return childSnapshot({
        loads, caches, routePattern: (i) => actors()?.config.routes[i]?.match.path ?? '',
        parts: counted === undefined ? [vitals.snapshot()] : [vitals.snapshot(), counted],
      });
    },
    invalidate: async (inv) => { await actors()?.caches.caches.forget(inv); },
    poolDown: (pool, reason) => actors()?.host.markDown(pool, reason),
    // Before start-up there is nothing cached; the primary tells a process that starts while cut off once it is ready.
    cutOff: (cut) => actors()?.caches.caches.cutOff(cut),
  };
}
