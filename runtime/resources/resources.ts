import { setTimeout as sleep } from 'node:timers/promises';
import type { Config, PoolConfig, ResourceConfig } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResourceMessage } from '../protocol/messages.js';
import { describeAddress, scrub } from './address.js';
import { causeOf, className, isConnectionError, isStatementTimeout } from './connection-errors.js';
import type { Opened } from './driver.js';
import type { HttpUpstream, OriginsListener } from './http.js';

/** Resource failures an actor may pass on (from ctx.ask) without it counting as its own crash. */
const RESOURCE_CODES: ReadonlySet<string> = new Set(['ACTORRT_E_RESOURCE_UNAVAILABLE', 'ACTORRT_E_RESOURCE_TIMEOUT']);

/** While a resource is seen down at run time, how often it is probed to log its return. */
const RECOVERY_PROBE_MS = 1000;

interface Entry {
  readonly name: string;
  readonly config: ResourceConfig;
  readonly opened: Opened<unknown>;
  /** Set while the resource is known to be unreachable (between a failure and a passing probe). */
  down: boolean;
}

/** Told when a resource of this process becomes unreachable or is back (front workers and pool processes tell the primary). */
export type HealthListener = (change: Omit<ResourceMessage, 'type'>) => void;

/** The resources a process needs: those of its local pools, plus (front workers) those its proxy routes use. */
export function resourcesFor(config: Config, pools: readonly PoolConfig[], proxies: boolean): string[] {
  const wanted = new Set(pools.flatMap((p) => p.resources));
  if (proxies) for (const r of config.routes) if (r.proxy !== undefined) wanted.add(r.proxy);
  // Declaration order, so that opening follows the file and closing reverses it.
  return Object.keys(config.resources).filter((name) => wanted.has(name));
}

/**
 * The resources of one process: opened once at start-up, in declaration order, each health-checked
 * before the process reports ready, and closed in reverse order. A resource that fails at run time
 * turns the requests that hit it into 503 RESOURCE_UNAVAILABLE (not actor crashes) while the
 * drivers reconnect on their own; a probe logs when it is back.
 */
export class Resources {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  private constructor(private readonly log: Logger, private readonly onHealth: HealthListener) {}

  /**
   * Open `names` in order, retrying each per its `startup` settings; on failure close what opened
   * and throw. `provided`: clients to use as they are instead of opening those resources (the test
   * kit's stand-ins), never checked nor closed here: their owner closes them.
   */
  static async open(config: Config, names: readonly string[], log: Logger, onHealth: HealthListener = () => {},
    provided: Readonly<Record<string, unknown>> = {}): Promise<Resources> {
    const set = new Resources(log, onHealth);
    try {
      for (const name of names) {
        const resource = config.resources[name];
        if (resource === undefined) throw new ActorrtError('ACTORRT_E_INTERNAL', `resource "${name}" is not in the topology`);
        if (Object.hasOwn(provided, name)) {
          set.entries.set(name, { name, config: resource, opened: standIn(provided[name]), down: false });
          continue;
        }
        const onOrigins = (originsOut: readonly string[], error: string | undefined): void => {
          onHealth({ resource: name, available: error === undefined, originsOut, ...(error === undefined ? {} : { error: scrub(error, resource) }) });
        };
        set.entries.set(name, { name, config: resource, opened: await openWithRetries(name, resource, log, onOrigins), down: false });
      }
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  /** The raw clients of `names`, as `ctx.resources` shows them (frozen). */
  clientsFor(names: readonly string[]): Readonly<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const name of names) {
      const entry = this.entries.get(name);
      if (entry !== undefined) out[name] = entry.opened.client;
    }
    return Object.freeze(out);
  }

  /** The upstream behind an http resource (proxy routes). */
  upstream(name: string): HttpUpstream {
    const entry = this.entries.get(name);
    if (entry?.config.type !== 'http') throw new ActorrtError('ACTORRT_E_INTERNAL', `resource "${name}" is not an open http resource`);
    return entry.opened.client as HttpUpstream;
  }

  /**
   * If `err` (thrown while serving a pool bound to `bound`) is one of those resources failing
   * rather than the actor (unreachable: 503; a statement past `statementTimeout`: 504), the error
   * to answer with instead of counting an actor crash; undefined otherwise.
   */
  failureOf(err: unknown, bound: readonly string[]): ActorrtError | undefined {
    if (err instanceof ActorrtError) return RESOURCE_CODES.has(err.code) ? err : undefined;
    if (bound.length === 0) return undefined;
    if (isStatementTimeout(err)) {
      const entry = this.attribute(err, bound);
      const what = entry === undefined ? 'a database statement' : `a statement on resource "${entry.name}" (${describeAddress(entry.config)})`;
      const limit = entry?.config.type === 'postgres' && entry.config.statementTimeout !== undefined ? ` (${entry.config.statementTimeout} ms)` : '';
      return new ActorrtError('ACTORRT_E_RESOURCE_TIMEOUT', `${what} ran past its statementTimeout${limit} and was cancelled`, { cause: err });
    }
    if (!isConnectionError(err)) return undefined;
    const entry = this.attribute(err, bound);
    if (entry === undefined) {
      return new ActorrtError('ACTORRT_E_RESOURCE_UNAVAILABLE', `a resource this request needs is unavailable: ${causeOf(err)}`, { cause: err });
    }
    this.markDown(entry, err);
    return new ActorrtError('ACTORRT_E_RESOURCE_UNAVAILABLE',
      `resource "${entry.name}" (${describeAddress(entry.config)}) is unavailable: ${scrub(causeOf(err), entry.config)}`, { cause: err });
  }

  /** Resource `name` failed outside an actor (a proxied request): mark it down if `err` is a connection failure. */
  failed(name: string, err: unknown): void {
    const entry = this.entries.get(name);
    if (entry !== undefined && isConnectionError(err)) this.markDown(entry, err);
  }

  /** Close every resource in reverse order of opening; errors are logged, never thrown. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of [...this.entries.values()].reverse()) {
      try {
        await entry.opened.close();
      } catch (err) {
        this.log.warn({ resource: entry.name, err: scrub((err as Error).message, entry.config) }, 'closing resource failed');
      }
    }
  }

  /** Which bound resource an error came from: the only one, or the one whose driver raises that kind of error. */
  private attribute(err: unknown, bound: readonly string[]): Entry | undefined {
    const entries = bound.map((name) => this.entries.get(name)).filter((e): e is Entry => e !== undefined);
    if (entries.length <= 1) return entries[0];
    const type = driverOf(err);
    const ofType = entries.filter((e) => e.config.type === type);
    return ofType.length === 1 ? ofType[0] : undefined;
  }

  private markDown(entry: Entry, err: unknown): void {
    if (entry.down || this.closed) return;
    entry.down = true;
    const cause = scrub(causeOf(err), entry.config);
    this.log.warn({ resource: entry.name, address: describeAddress(entry.config), err: cause, event: 'resource-down' }, entry.config.type === 'http'
      ? 'upstream unavailable; requests that need it get 502 / 503 until an origin answers'
      : 'resource unavailable; requests that need it get 503 until it is back');
    this.onHealth({ resource: entry.name, available: false, error: cause });
    void (async () => {
      while (!this.closed) {
        await sleep(RECOVERY_PROBE_MS, undefined, { ref: false });
        try {
          await entry.opened.check();
          entry.down = false;
          this.log.info({ resource: entry.name, event: 'resource-up' }, 'resource available again');
          this.onHealth({ resource: entry.name, available: true });
          return;
        } catch {
          // still down; probe again
        }
      }
    })();
  }
}

/** A client handed in ready-made: always answers its check, and its owner closes it. */
function standIn(client: unknown): Opened<unknown> {
  return { client, check: () => Promise.resolve(), close: () => Promise.resolve() };
}

/** Which kind of driver raised `err`, judged by its shape. */
function driverOf(err: unknown): ResourceConfig['type'] | undefined {
  const e = err as { code?: unknown; severity?: unknown; message?: unknown };
  if (typeof err === 'object' && err !== null && /^(Client|Socket|Connection|Reconnect).+Error$/.test(className(err))) return 'redis';
  if (typeof e.code === 'string' && e.code.startsWith('UND_ERR')) return 'http';
  if (typeof e.code === 'string' && e.code.startsWith('SQLITE')) return 'sqlite';
  if (e.severity !== undefined || (typeof e.message === 'string' && /^Connection terminated|trying to connect/.test(e.message))) return 'postgres';
  return undefined;
}

/** Open one resource and health-check it; connection failures are retried `startup.retries` times. */
async function openWithRetries(name: string, resource: ResourceConfig, log: Logger, onOrigins: OriginsListener): Promise<Opened<unknown>> {
  const { retries, delay } = resource.startup;
  for (let attempt = 0; ; attempt++) {
    let opened: Opened<unknown> | undefined;
    try {
      opened = await openDriver(name, resource, log, onOrigins);
      await opened.check();
      log.debug({ resource: name, type: resource.type, address: describeAddress(resource) }, 'resource open');
      return opened;
    } catch (err) {
      await opened?.close().catch(() => {});
      const unreachable = isConnectionError(err);
      const cause = scrub(unreachable ? causeOf(err) : (err as Error).message ?? String(err), resource);
      if (unreachable && attempt < retries) {
        log.warn({ resource: name, address: describeAddress(resource), attempt: attempt + 1, of: retries + 1, err: cause }, 'resource unreachable; retrying');
        await sleep(delay);
        continue;
      }
      const what = `resource "${name}" (${describeAddress(resource)})`;
      throw unreachable
        ? new ActorrtError('ACTORRT_E_RESOURCE_UNREACHABLE', `${what} unreachable: ${cause}`,
          { hint: `tried ${attempt + 1} time${attempt === 0 ? '' : 's'}; ${resource.type === 'sqlite' ? 'check the file exists and this user can open it' : 'check the server is up'}, or raise resources.${name}.startup.retries` })
        : new ActorrtError('ACTORRT_E_RESOURCE_FAILED', `${what} failed to open: ${cause}`);
    }
  }
}

/**
 * Open one resource with its driver. Drivers are imported on first use: pg, undici and node-redis
 * together cost ~200 ms of CPU to load, paid by every process and every CLI command when imported
 * up front, and a process only needs the ones its pools bind (a resize starts processes under load).
 */
async function openDriver(name: string, resource: ResourceConfig, log: Logger, onOrigins: OriginsListener): Promise<Opened<unknown>> {
  switch (resource.type) {
    case 'sqlite': return (await import('./sqlite.js')).openSqlite(resource);
    case 'postgres': return (await import('./postgres.js')).openPostgres(name, resource, log);
    case 'redis': return (await import('./redis.js')).openRedis(name, resource, log);
    case 'http': return (await import('./http.js')).openHttp(name, resource, log, onOrigins);
  }
}
