import type { CacheConfig, Config } from '../../config/types.js';
import { SYSTEM_CLOCK, type Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { invalidates, type Invalidation } from './keys.js';
import { MemoryStore } from './memory-store.js';
import type { CacheStore, StoreStats } from './store.js';

/** The Redis store's module, loaded by `open` only in a process whose topology has a Redis cache: its client is ~400 files, 60 ms of every process start. */
let redisStores: typeof import('./redis-store.js') | undefined;

/** How long start-up (or a reload) waits for a Redis cache to connect; past it the cache starts out as misses. */
const READY_WAIT_MS = 2000;
/**
 * With a bus, the primary says every 500 ms whether the instance hears it; a process that hears
 * nothing for this long counts itself cut off (its primary is frozen or stuck, and peers'
 * invalidations cannot reach it).
 */
const BUS_SILENCE_MS = 1500;
/** Invalidations remembered to tell a fill that started before one of them not to store its result. */
const RECENT = 256;

/** What the stores read of a topology. */
export type CachesConfig = Pick<Config, 'caches' | 'bus' | 'routes' | 'resources'>;

/**
 * The cache stores of one process, by name, kept live across reloads: opened with the process,
 * replaced when their settings change, closed when the topology drops them. Also the process's invalidation clock: a
 * miss that began before an invalidation of its key must not store what it computed (it may have
 * read the old data), which `invalidatedSince` answers.
 */
export class Caches {
  private config: CachesConfig;
  private readonly stores = new Map<string, CacheStore>();
  private epoch = 0;
  private readonly recent: Array<{ readonly epoch: number; readonly inv: Invalidation }> = [];
  private readonly listeners: Array<(inv: Invalidation) => void> = [];
  /** Stores a route's `vary` makes variants in: only their invalidations look for `key#...`. */
  private varying: ReadonlySet<string>;
  /** Whether the instance is cut off from the invalidation bus (memory stores then serve by bus.staleness). */
  private cut = false;
  /** When the primary last said how the bus is (Date.now()), and whether it has been silent too long since. */
  private toldAt = Date.now();
  private silent = false;

  constructor(config: CachesConfig, private readonly log: Logger, private readonly clock: Clock = SYSTEM_CLOCK) {
    this.config = config;
    this.varying = varyingStores(config);
  }

  /**
   * Open every store of the topology (Redis connects in the background) and wait, at most
   * `wait` ms, until each can answer: a healthy Redis is used from the first request, a dead one
   * delays start-up by `wait` and no more.
   */
  async open(wait = READY_WAIT_MS): Promise<void> {
    if (redisStores === undefined && Object.values(this.config.caches).some((c) => c.store === 'redis')) redisStores = await import('./redis-store.js');
    const stores = this.names().map((name) => this.store(name)).filter((s) => s !== undefined);
    await Promise.all(stores.map((s) => s.ready(wait)));
  }

  /** Take a new topology: stores whose settings changed or that are gone are closed, new ones opened. */
  async apply(config: CachesConfig, wait = READY_WAIT_MS): Promise<void> {
    const previous = this.config;
    this.config = config;
    this.varying = varyingStores(config);
    for (const [name, store] of [...this.stores]) {
      const before = previous.caches[name];
      const after = config.caches[name];
      if (after !== undefined && sameStore(before, after, previous, config)) continue;
      this.stores.delete(name);
      void store.close();
    }
    this.toldAt = Date.now(); // a bus this reload adds: its first word is on its way
    this.staleness();
    await this.open(wait);
  }

  /**
   * The instance was cut off from the invalidation bus, or is back (the primary flushed every
   * memory store first): while cut off, memory entries older than bus.staleness are misses.
   */
  cutOff(cut: boolean): void {
    this.toldAt = Date.now();
    this.silent = false;
    if (cut === this.cut) return;
    this.cut = cut;
    this.staleness();
  }

  /** Called every few hundred ms: with a bus, a primary silent for BUS_SILENCE_MS means cut off. */
  checkSilence(now = Date.now()): void {
    const silent = this.config.bus !== undefined && now - this.toldAt > BUS_SILENCE_MS;
    if (silent === this.silent) return;
    this.silent = silent;
    this.staleness();
  }

  private staleness(): void {
    const maxAge = this.maxAge();
    for (const s of this.stores.values()) if (s instanceof MemoryStore) s.maxAge = maxAge;
  }

  /** How old a memory entry may be to be served (ms): bus.staleness while cut off, else no bound. */
  private maxAge(): number | undefined {
    return this.cut || this.silent ? this.config.bus?.staleness : undefined;
  }

  /** The store named `name` (opened by `open`, or here if asked first: a Redis one only after `open`); undefined when the topology has none by that name. */
  store(name: string): CacheStore | undefined {
    let store = this.stores.get(name);
    if (store !== undefined) return store;
    const config = this.config.caches[name];
    if (config === undefined) return undefined;
    if (config.store === 'memory') {
      const memory = new MemoryStore(name, config, this.clock);
      memory.maxAge = this.maxAge();
      store = memory;
    } else {
      const resource = this.config.resources[config.resource];
      if (resource?.type !== 'redis') return undefined; // validated at load: cannot happen
      if (redisStores === undefined) throw new Error(`actorrt bug: cache ${name} was asked for before open() loaded the Redis store`);
      store = new redisStores.RedisStore(name, config, resource, this.log);
    }
    this.stores.set(name, store);
    return store;
  }

  /** Names of the stores the topology declares. */
  names(): string[] {
    return Object.keys(this.config.caches);
  }

  /**
   * Remove keys and prefixes from every store this process has (Redis included: this process is
   * where the change happened); other processes are told with `forget`.
   */
  async invalidate(inv: Invalidation): Promise<void> {
    this.record(inv);
    await Promise.all(this.names().filter((n) => inv.stores?.includes(n) ?? true).map((name) => this.store(name)?.delete(inv, this.varying.has(name))));
  }

  /** Another process invalidated: drop the keys from this process's memory stores (shared stores were already done). */
  async forget(inv: Invalidation): Promise<void> {
    this.record(inv);
    const memory = [...this.stores.values()].filter((s) => s.kind === 'memory' && (inv.stores?.includes(s.name) ?? true));
    await Promise.all(memory.map((s) => s.delete(inv, this.varying.has(s.name))));
  }

  /** Called with every invalidation this process learns of (single flights drop the keys they were computing). */
  onInvalidate(listener: (inv: Invalidation) => void): void {
    this.listeners.push(listener);
  }

  /** A point on the invalidation clock, taken when a fill starts. */
  mark(): number {
    return this.epoch;
  }

  /** Whether `key` of `store` was invalidated after `mark` (true when too much happened since to tell). */
  invalidatedSince(mark: number, store: string, key: string): boolean {
    if (mark === this.epoch) return false;
    const oldest = this.recent[0];
    if (oldest === undefined || oldest.epoch > mark + 1) return true;
    return this.recent.some((r) => r.epoch > mark && invalidates(r.inv, key, store));
  }

  /** The default ttl of store `name` (ms). */
  ttlOf(name: string): number | undefined {
    return this.config.caches[name]?.ttl;
  }

  stats(): StoreStats[] {
    return this.names().flatMap((name) => this.store(name)?.stats() ?? []);
  }

  async close(): Promise<void> {
    const all = [...this.stores.values()];
    this.stores.clear();
    await Promise.all(all.map((s) => s.close()));
  }

  private record(inv: Invalidation): void {
    this.epoch++;
    this.recent.push({ epoch: this.epoch, inv });
    if (this.recent.length > RECENT) this.recent.shift();
    for (const listener of this.listeners) listener(inv);
  }
}

function varyingStores(config: CachesConfig): ReadonlySet<string> {
  return new Set(config.routes.filter((r) => (r.cache?.vary.length ?? 0) > 0).map((r) => r.cache?.use as string));
}

/** Whether a store can be kept across a reload: same settings and, for Redis, the same server. */
function sameStore(before: CacheConfig | undefined, after: CacheConfig, previous: CachesConfig, next: CachesConfig): boolean {
  if (before === undefined || JSON.stringify(before) !== JSON.stringify(after)) return false;
  if (after.store !== 'redis') return true;
  return JSON.stringify(previous.resources[after.resource]) === JSON.stringify(next.resources[after.resource]);
}
