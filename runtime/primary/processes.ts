import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/types.js';
import type { Logger } from '../logger.js';
import { summarizeCaches, type CacheStatus } from '../cache/stats.js';
import { LISTEN_FD, type PrimaryMessage } from '../protocol/messages.js';
import type { ConnectionHandle } from '../spread/board.js';
import { ConnectionBoard } from './spread.js';
import type { CacheStats, Endpoints, MetricsSnapshot, PoolLoad } from '../protocol/shapes.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { ChildGoneError } from './child-link.js';
import type { Listener } from './listener.js';
import type { Deployed } from './reload-plan.js';
import type { ProcessReports } from './reports.js';
import type { PoolStatus, ProcessStatus } from './status.js';
import type { Child } from './child.js';
import { ChildSupervisor, type SupervisorOptions } from './supervisor.js';
import { InstanceBus } from './instance-bus.js';

const FRONT_ENTRY = fileURLToPath(new URL('../worker/main.js', import.meta.url));
const POOL_ENTRY = fileURLToPath(new URL('../pool-process/main.js', import.meta.url));
/** The supervision group of the front workers (isolated pools use their own names; `~` is not allowed in one, so none collides). */
export const FRONT = '~front';

/** How long a process of `group` may take to finish what it holds once told to stop: its pool's drainTimeout, the front workers' shutdownTimeout. */
export function drainTimeout(config: Config, group: string): number {
  return group === FRONT ? config.http.shutdownTimeout : config.pools[group]?.drainTimeout ?? config.http.shutdownTimeout;
}
/** How long a status request waits for each process's load. */
const STATS_TIMEOUT = 1000;

/** What one process reported for status. */
export interface ProcessStats {
  readonly loads: readonly PoolLoad[];
  readonly caches?: CacheStats;
  /** Asked for (a scrape): everything it counted. */
  readonly metrics?: MetricsSnapshot;
}

/**
 * The instance's child processes and the topology they run: front workers (every inline pool,
 * the HTTP server on the primary's socket) and the processes of each isolated pool. Offers the
 * primitives a reload is made of: start one process, take one out of routing, tell every running
 * process the current topology (and wait until each has applied it), retire one.
 */
export class Processes {
  readonly supervisor: ChildSupervisor;
  /** The invalidation bus to other instances (none unless the topology declares `bus:`). */
  readonly bus: InstanceBus;
  private current: Deployed;
  /** Bumped whenever the topology or the set of listed processes changes; children record what they were given. */
  private generation = 1;
  private nextId = 0;
  private readonly counters = new Map<string, number>();
  workerRestarts = 0;
  /** Where front workers publish the connections they hold (see runtime/worker/spread.ts). */
  private readonly board: ConnectionBoard;

  constructor(deployed: Deployed, private readonly runtimeDir: string, private readonly listener: Listener, private readonly log: Logger,
    private readonly reports: ProcessReports, private readonly onFrontGiveUp: (reason: string) => void, options: SupervisorOptions = {}) {
    this.current = deployed;
    this.board = ConnectionBoard.create();
    this.supervisor = new ChildSupervisor(log, reports, {
      // Front workers (and a pool a reload just removed) follow http.supervision.
      policy: (group) => (group === FRONT ? undefined : this.config.pools[group]?.supervision) ?? { strategy: 'one-for-one', ...this.config.http.supervision },
      keepServing: (group) => group === FRONT,
      ready: (child, restarted) => {
        this.bus.childReady(child);
        const lagging = (err: unknown): void => this.log.warn({ ...child.spec.fields, err: (err as Error).message }, 'could not bring a process up to date');
        if (restarted) {
          // Back at the same socket: peers reconnect now rather than at the end of their backoff
          // (up to 2 s of 503 for a one-process pool otherwise).
          this.generation++;
          void this.broadcast().catch(lagging);
          return;
        }
        // Started from an older topology than the one in force (a reload ran meanwhile): catch up.
        if (child.generation !== this.generation) void this.tell(child).catch(lagging);
      },
      restarting: (child) => {
        if (child.spec.group === FRONT) this.workerRestarts++;
        else this.reports.counters.record(child.spec.group, 'process-restart');
      },
      gaveUp: (group, reason, child) => this.gaveUp(group, reason, child),
      beyond: (inv) => this.bus.publish(inv),
      handOff: (from, handle) => this.handOff(from, handle),
      // Its slot stops counting at once: siblings would keep handing off toward a worker that is gone, until its restart.
      exited: (child) => { if (child.spec.group === FRONT) this.board.gone(child.spec.id); },
    }, options);
    this.bus = new InstanceBus(this.supervisor, log);
  }

  get config(): Config {
    return this.current.config;
  }

  /** The topology in force (config, actor digests, front worker count). */
  deployed(): Deployed {
    return this.current;
  }

  /** Make `next` the topology new processes start with and `broadcast` sends. */
  setDeployed(next: Deployed): void {
    this.current = next;
    this.generation++;
    void this.bus.apply(next.config);
  }

  /** Processes of a group (FRONT, or an isolated pool's name) that are not leaving, oldest first. */
  serving(group: string): Child[] {
    return this.supervisor.list(group).filter((c) => c.state !== 'retiring');
  }

  /** Fork one front worker with the current topology; `ready` settles when it serves. */
  startFront(retryStart = false): { child: Child; ready: Promise<void> } {
    const id = this.nextId++;
    const index = this.count(FRONT);
    const socket = join(this.runtimeDir, `~front.${index}.sock`); // ~ is not allowed in pool names
    const boardSlot = this.board.slotFor(id, this.supervisor.list(FRONT).map((c) => c.spec.id));
    return this.supervisor.spawn({
      group: FRONT, id, index, name: `worker ${index}`, kind: 'worker', entry: FRONT_ENTRY, socket, fds: [this.listener.fd, this.board.fd], fields: { worker: index },
      start: () => {
        this.board.starting(boardSlot); // every (re)start: a crashed worker's counts are gone with it
        return this.stamped({
          type: 'start', protocol: PROTOCOL_VERSION, config: this.config, workerIndex: index, listenFd: LISTEN_FD, boardSlot, endpoints: this.endpoints(), socket, down: this.down(),
        });
      },
    }, retryStart);
  }

  /**
   * A front worker took a connection past its share (or one sent to a worker never reached it):
   * it goes to the worker holding fewest among those that accept on the board, are listed, and
   * whose process is reachable (`from` included). A worker that is starting, leaving, draining,
   * retiring or dead is never chosen; with none left the connection is closed, never held: the
   * client sees it closed before a byte was read, and may retry. The primary sees the connection
   * once, never a byte of it.
   */
  private handOff(from: Child, handle: ConnectionHandle): void {
    const candidates = this.serving(FRONT).filter((c) => c.state === 'up' && c.listed && this.supervisor.reachable(c));
    const id = this.board.pick(candidates.map((c) => c.spec.id));
    const to = candidates.find((c) => c.spec.id === id)
      // Handed off just as the instance began leaving its load balancers: every worker stopped
      // counting on the board, but they all still listen and serve; the one that accepted it takes
      // it back (closing it reset a client mid-request, seen once in a busy full test run).
      ?? (this.supervisor.closedButServing(FRONT) && from.state === 'up' && this.supervisor.reachable(from) ? from : undefined);
    if (to === undefined) handle.close();
    else this.supervisor.tellWith(to, { type: 'adopt' }, handle);
  }

  /** Fork one process of isolated pool `pool`; `ready` settles when it serves its socket. */
  startPoolProcess(pool: string, retryStart = false): { child: Child; ready: Promise<void> } {
    const id = this.nextId++;
    const index = this.count(pool);
    const socket = join(this.runtimeDir, `${pool}.${index}.sock`);
    return this.supervisor.spawn({
      group: pool, id, index, name: `${pool} process ${index}`, kind: 'pool process', entry: POOL_ENTRY, socket, fds: [], fields: { pool, process: index },
      start: () => this.stamped({
        type: 'start-pool', protocol: PROTOCOL_VERSION, config: this.config, pool, index, socket, endpoints: this.endpoints(), down: this.down(),
      }),
    }, retryStart);
  }

  /** Fork one more process of `child`'s group (its replacement). */
  startLike(child: Child): { child: Child; ready: Promise<void> } {
    return child.spec.group === FRONT ? this.startFront() : this.startPoolProcess(child.spec.group);
  }

  /** Stop routing to `child` (peers learn it at the next broadcast); it is retired afterwards. */
  unlist(child: Child): void {
    this.supervisor.unlist(child);
    this.generation++;
  }

  /** Put a child `unlist` took out back into routing (a reload that failed keeps its victims); the supervisor decides whether it still can be. */
  relist(child: Child): void {
    this.supervisor.relist(child);
    this.generation++;
  }

  /** Let `child` drain for up to `drain` ms and exit (`retire`: peers already stopped routing to it; `stop`: it never served). */
  retire(child: Child, mode: 'stop' | 'retire', drain: number): Promise<void> {
    return this.supervisor.terminate(child, mode, drain);
  }

  /** Whether supervision gave isolated pool `pool` up. */
  isDown(pool: string): boolean {
    return this.supervisor.group(pool).down !== undefined;
  }

  /** Forget that `pool` was given up (a reload starts it again, with a fresh restart window). */
  revive(pool: string): void {
    this.supervisor.revive(pool);
  }

  /** Where every pool is served: isolated pools by their listed processes, inline pools by the front workers (for ctx.ask from pool processes). */
  endpoints(): Endpoints {
    const out: Record<string, readonly string[]> = {};
    const sockets = (group: string): string[] => this.serving(group).filter((c) => c.listed).map((c) => c.spec.socket);
    const front = sockets(FRONT);
    for (const pool of Object.values(this.config.pools)) out[pool.name] = pool.processes === undefined ? front : sockets(pool.name);
    return out;
  }

  /** Isolated pools given up, with why (sent to every process). */
  down(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const pool of Object.values(this.config.pools)) {
      if (pool.processes === undefined) continue;
      const g = this.supervisor.group(pool.name);
      if (g.down !== undefined) out[pool.name] = describeDown(g.down, g.lastError);
    }
    return out;
  }

  /**
   * Tell every running process the current topology and endpoints; resolves once each has applied
   * it, rejects naming the first that could not. A process that exits meanwhile is not a failure:
   * its restart starts from the current topology (or catches up when ready).
   */
  async broadcast(): Promise<void> {
    const targets = this.supervisor.list().filter((c) => c.state === 'up');
    const results = await Promise.allSettled(targets.map((c) => this.tell(c)));
    // A child that died meanwhile (its call failed with ChildGoneError) is not a failure to apply,
    // whatever its record shows by now (a first restart is immediate and may already be up).
    const failed = results.map((r, i) => [r, targets[i]] as const)
      .find((x): x is readonly [PromiseRejectedResult, Child] => x[0].status === 'rejected' && !(x[0].reason instanceof ChildGoneError) && x[1] !== undefined);
    if (failed !== undefined) {
      const [r, child] = failed;
      throw new Error(`${child.spec.name} could not apply the topology: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
    }
  }

  /**
   * Load of every pool and cache counts of every running process (and, with `metrics`, what
   * each counted), by process; absent: no answer within `timeout` ms. Every process is asked at
   * once and each answer is awaited on its own bound: one busy or stuck process never holds up
   * the others (prom-client's cluster scrape fails whole on one, #181, #747).
   */
  async loads(timeout = STATS_TIMEOUT, metrics = false): Promise<Map<Child, ProcessStats>> {
    const out = new Map<Child, ProcessStats>();
    await Promise.all(this.supervisor.list().filter((c) => c.state === 'up' || (metrics && c.state === 'retiring' && c.pid !== undefined)).map(async (c) => {
      try {
        const reply = await this.supervisor.call(c, metrics ? { type: 'stats', metrics } : { type: 'stats' }, timeout);
        out.set(c, {
          loads: reply.loads ?? [], ...(reply.caches === undefined ? {} : { caches: reply.caches }), ...(reply.metrics === undefined ? {} : { metrics: reply.metrics }),
        });
      } catch { /* a process busy for a second is shown without its load */ }
    }));
    return out;
  }

  /** Every cache store over every process, from the stats just gathered. */
  cacheStatus(stats: ReadonlyMap<Child, ProcessStats>): CacheStatus[] {
    return summarizeCaches(Object.keys(this.config.caches), [...stats.values()].flatMap((s) => (s.caches === undefined ? [] : [s.caches])));
  }

  /** Every pool as status shows it, from the loads just gathered. */
  poolStatus(stats: ReadonlyMap<Child, ProcessStats>): PoolStatus[] {
    const loadIn = (child: Child, pool: string): PoolLoad | undefined => stats.get(child)?.loads.find((l) => l.pool === pool);
    const depthIn = (child: Child, pool: string): number | undefined => loadIn(child, pool)?.depth;
    const actorsIn = (group: string, pool: string): number | undefined => {
      const counted = this.supervisor.list(group).map((c) => loadIn(c, pool)?.actors).filter((n) => n !== undefined);
      return counted.length === 0 ? undefined : counted.reduce((a, b) => a + b, 0);
    };
    return Object.values(this.config.pools).map((p): PoolStatus => {
      const supervision = this.reports.counters.of(p.name);
      if (p.processes === undefined) {
        const depth = this.supervisor.list(FRONT).reduce((n, c) => n + (depthIn(c, p.name) ?? 0), 0);
        const actorsRunning = actorsIn(FRONT, p.name);
        const kind = p.threads === undefined ? { kind: 'inline' as const } : { kind: 'threads' as const, threadCount: p.threads };
        return { name: p.name, ...kind, size: p.size, state: 'up', depth, ...(actorsRunning === undefined ? {} : { actorsRunning }), supervision };
      }
      const actorsRunning = actorsIn(p.name, p.name);
      const g = this.supervisor.group(p.name);
      const processes = this.supervisor.list(p.name).map((c) => processStatus(c, depthIn(c, p.name)));
      const now = Date.now();
      const serving = processes.filter((x) => x.state !== 'retiring');
      return {
        name: p.name, kind: 'isolated', size: p.size,
        state: g.down !== undefined ? 'down' : serving.length > 0 && serving.every((x) => x.up) ? 'up' : 'starting',
        processCount: p.processes,
        processes,
        depth: processes.reduce((n, x) => n + (x.inflight ?? 0), 0),
        ...(actorsRunning === undefined ? {} : { actorsRunning }),
        restarts: g.restarts,
        restartsInWindow: g.history.filter((t) => now - t < p.supervision.within).length,
        ...(g.down === undefined ? {} : { down: describeDown(g.down, g.lastError) }),
        ...(g.lastError === undefined ? {} : { lastError: g.lastError }),
        supervision,
      };
    });
  }

  /** Front workers as status shows them. */
  workerStatus(stats: ReadonlyMap<Child, ProcessStats>): ProcessStatus[] {
    return this.supervisor.list(FRONT).map((c) => processStatus(c, stats.get(c)?.loads.reduce((n, l) => n + l.depth, 0)));
  }

  private count(group: string): number {
    const n = this.counters.get(group) ?? 0;
    this.counters.set(group, n + 1);
    return n;
  }

  private stamped(message: PrimaryMessage): { message: PrimaryMessage; generation: number } {
    return { message, generation: this.generation };
  }

  private async tell(child: Child): Promise<void> {
    const generation = this.generation;
    const reply = await this.supervisor.call(child, { type: 'reconfigure', config: this.config, endpoints: this.endpoints(), down: this.down() });
    if (!reply.ok) throw new Error(`${reply.error?.code ?? 'ACTORRT_E_INTERNAL'}: ${reply.error?.message ?? 'unknown error'}`);
    this.supervisor.applied(child, generation);
  }

  private gaveUp(group: string, reason: string, child: Child): void {
    if (group === FRONT) {
      this.log.fatal({ ...child.spec.fields, reason, event: 'gave-up' }, 'front workers keep failing to start; giving up');
      this.onFrontGiveUp(reason);
      return;
    }
    const g = this.supervisor.group(group);
    this.log.error({ ...child.spec.fields, reason, lastError: g.lastError, event: 'pool-given-up' }, 'pool process keeps failing; giving the pool up');
    this.reports.counters.record(group, 'give-up');
    const drain = drainTimeout(this.config, group);
    for (const sibling of this.supervisor.list(group)) void this.supervisor.terminate(sibling, 'stop', drain);
    this.supervisor.tellAll({ type: 'pool-down', pool: group, reason: describeDown(reason, g.lastError) });
  }
}

function describeDown(down: string, lastError: string | undefined): string {
  return `${down}${lastError === undefined ? '' : ` (last error: ${lastError})`}`;
}

function processStatus(c: Child, inflight: number | undefined): ProcessStatus {
  return {
    index: c.spec.index, state: c.state, up: c.state === 'up',
    ...(c.pid === undefined ? {} : { pid: c.pid }),
    ...(inflight === undefined ? {} : { inflight }),
    ...(c.vitals.rss === undefined ? {} : { rss: c.vitals.rss }),
  };
}
