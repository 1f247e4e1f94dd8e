import type { RouteCacheCounts } from '../protocol/shapes.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config, RouteConfig } from '../../config/types.js';
import type { Logger } from '../logger.js';
import type { Reply } from '../reply.js';
import type { Caches } from './caches.js';
import { compileKey, invalidates, varySuffix, type Invalidation, type KeyRenderer, type KeySource } from './keys.js';
import {
  ageOf, asksNoCache, entryState, fromStored, isServerError, isStoredReply, retention, toStored, unstorable, type Freshness, type StoredReply,
} from './policy.js';
import type { CacheStore } from './store.js';
import { NO_LOCK } from './store.js';

/** A lock outlives the fill it guards by this much (the fill is bounded by the route's timeout). */
const LOCK_MARGIN_MS = 1000;
/** Polling of a Redis entry another process is computing: first delay, growth, ceiling. */
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 50;

/** A route's cache policy, compiled once per routing table. */
export interface RouteCachePolicy extends Freshness {
  readonly route: number;
  readonly store: string;
  readonly key: KeyRenderer;
  readonly vary: readonly string[];
  readonly statuses: readonly number[];
  readonly allowNoCache: boolean;
  /** How long a fill may take (the route's or pool's timeout): bounds locks and waits. */
  readonly fillTimeout: number;
}

/** Compile `route`'s cache settings (undefined when it has none). */
export function compileRouteCache(route: RouteConfig, config: Config): RouteCachePolicy | undefined {
  const c = route.cache;
  if (c === undefined) return undefined;
  const store = config.caches[c.use];
  if (store === undefined) return undefined; // validated at load: cannot happen
  const pool = route.pool === undefined ? undefined : config.pools[route.pool];
  const proxied = route.proxy === undefined ? undefined : config.resources[route.proxy];
  const fillTimeout = route.timeout ?? pool?.timeout ?? (proxied?.type === 'http' ? proxied.headersTimeout : 10_000);
  return {
    route: route.index, store: c.use, key: compileKey(c.key), vary: c.vary, statuses: c.statuses, allowNoCache: c.allowNoCache,
    ttl: c.ttl ?? store.ttl, staleWhileRevalidate: c.staleWhileRevalidate, staleIfError: c.staleIfError, fillTimeout,
  };
}

/** How a cached route's request was answered (the X-Cache header). */
export type CacheState = 'HIT' | 'MISS' | 'STALE' | 'BYPASS';

export interface CacheOutcome {
  readonly reply: Reply;
  readonly state: CacheState;
  /** HIT and STALE: the entry the reply comes from (written as stored), and seconds since it was stored. */
  readonly entry?: StoredReply;
  readonly age?: number;
}

/** Counts of one cached route in one process, as they are counted (sent as RouteCacheCounts). */
interface Counts {
  readonly route: number;
  readonly store: string;
  hits: number;
  misses: number;
  stale: number;
  bypass: number;
}

interface Flight {
  readonly key: string;
  readonly store: string;
  readonly reply: Promise<Reply>;
}

/**
 * The cache step of the request pipeline, wrapping dispatch: lookup, then on a miss one fill per
 * key at a time in this process (single flight) and, with a Redis store, across processes (a
 * short SET NX PX lock; the others poll for the entry, bounded, and compute themselves if the
 * holder goes away). Serves stale entries within staleWhileRevalidate (refreshing once in the
 * background) and within staleIfError when the fill fails.
 */
export class ResponseCache {
  private readonly flights = new Map<string, Flight>();
  private readonly counts = new Map<number, Counts>();

  constructor(private readonly caches: Caches, private readonly log: Logger) {
    // A key invalidated while it is being computed: later requests must not join that fill.
    caches.onInvalidate((inv) => this.dropFlights(inv));
  }

  /**
   * A fresh entry of a store in this process, found without waiting (memory stores): the hit is
   * then written in the same turn as the request was parsed. Undefined sends the request the
   * usual way (`serve`).
   */
  hit(policy: RouteCachePolicy, req: KeySource): CacheOutcome | undefined {
    const store = this.caches.store(policy.store);
    if (store?.peek === undefined || bypasses(policy, req)) return undefined;
    const found = fresh(store.peek(keyOf(policy, req)), policy);
    if (found === undefined) return undefined;
    this.countsOf(policy).hits++;
    return served(found, 'HIT');
  }

  /** Answer one request on a cached route; `fill` dispatches it to the pool or upstream. */
  async serve(policy: RouteCachePolicy, req: KeySource, fill: () => Promise<Reply>): Promise<CacheOutcome> {
    const store = this.caches.store(policy.store);
    if (store === undefined) return { reply: await fill(), state: 'MISS' };
    const key = keyOf(policy, req);
    const counts = this.countsOf(policy);
    const head = req.method === 'HEAD';

    if (bypasses(policy, req)) {
      counts.bypass++;
      return { reply: head ? await fill() : await this.fillAndStore(store, key, policy, fill), state: 'BYPASS' };
    }

    const found = await store.get(key);
    const entry = isStoredReply(found) ? found : undefined;
    const now = Date.now();
    const state = entry === undefined ? 'expired' : entryState(entry, policy, now);
    if (entry !== undefined && state === 'fresh') {
      counts.hits++;
      return served(entry, 'HIT', now);
    }
    if (entry !== undefined && state === 'revalidate') {
      counts.stale++;
      this.flight(store, key, policy, fill).catch((err: unknown) => this.log.debug({ err, key }, 'background refresh failed; the stale entry stays'));
      return served(entry, 'STALE', now);
    }

    counts.misses++;
    const staleIfError = entry !== undefined && state === 'stale-if-error' ? entry : undefined;
    let reply: Reply;
    try {
      // A HEAD request never leads a fill (its reply may lack the body a GET needs); it joins one under way.
      reply = head ? await (this.flights.get(flightId(store, key))?.reply ?? fill()) : await this.flight(store, key, policy, fill);
    } catch (err) {
      if (staleIfError === undefined) throw err;
      counts.stale++;
      return served(staleIfError, 'STALE');
    }
    if (staleIfError !== undefined && isServerError(reply.status)) {
      counts.stale++;
      return served(staleIfError, 'STALE');
    }
    return { reply, state: 'MISS' };
  }

  /** Counts of every cached route in this process (status). */
  stats(): RouteCacheCounts[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  /** One fill per key at a time in this process; later misses wait for it. */
  private flight(store: CacheStore, key: string, policy: RouteCachePolicy, fill: () => Promise<Reply>): Promise<Reply> {
    const id = flightId(store, key);
    const current = this.flights.get(id);
    if (current !== undefined) return current.reply;
    const reply = this.coordinated(store, key, policy, fill).finally(() => {
      if (this.flights.get(id)?.reply === reply) this.flights.delete(id);
    });
    this.flights.set(id, { key, store: store.name, reply });
    return reply;
  }

  /** Fill under the store's cross-process lock: the holder computes; others wait for its entry, bounded. */
  private async coordinated(store: CacheStore, key: string, policy: RouteCachePolicy, fill: () => Promise<Reply>): Promise<Reply> {
    let lock = await store.lock(key, policy.fillTimeout + LOCK_MARGIN_MS);
    if (lock.state === 'busy') {
      const stored = await this.waitForHolder(store, key, policy);
      if (stored !== undefined) return fromStored(stored);
      // The holder went away or took too long: take the lock if it is free, compute either way.
      lock = await store.lock(key, policy.fillTimeout + LOCK_MARGIN_MS);
      if (lock.state !== 'held') lock = NO_LOCK;
    }
    try {
      if (lock.state === 'held') {
        // Another process may have stored it between our miss and our lock (and released its lock).
        const stored = fresh(await store.get(key), policy);
        if (stored !== undefined) return fromStored(stored);
      }
      return await this.fillAndStore(store, key, policy, fill);
    } finally {
      await lock.release();
    }
  }

  /** Poll for the entry another process is computing, until it appears, its lock is gone, or the fill timeout passes. */
  private async waitForHolder(store: CacheStore, key: string, policy: RouteCachePolicy): Promise<StoredReply | undefined> {
    const deadline = Date.now() + policy.fillTimeout;
    let delay = POLL_FIRST_MS;
    while (Date.now() < deadline) {
      await sleep(delay);
      delay = Math.min(POLL_MAX_MS, delay * 2);
      const found = fresh(await store.get(key), policy);
      if (found !== undefined) return found;
      if (!(await store.locked(key))) return fresh(await store.get(key), policy); // stored between the two reads
    }
    return undefined;
  }

  /** Run the fill and store its reply when it may be stored and the key was not invalidated meanwhile. */
  private async fillAndStore(store: CacheStore, key: string, policy: RouteCachePolicy, fill: () => Promise<Reply>): Promise<Reply> {
    const mark = this.caches.mark();
    const reply = await fill();
    if (unstorable(reply, policy.statuses) !== undefined || this.caches.invalidatedSince(mark, store.name, key)) return reply;
    const stored = toStored(reply, Date.now(), policy.ttl);
    await store.set(key, stored, retention(policy));
    return fromStored(stored);
  }

  private dropFlights(inv: Invalidation): void {
    for (const [id, flight] of this.flights) if (invalidates(inv, flight.key, flight.store)) this.flights.delete(id);
  }

  private countsOf(policy: RouteCachePolicy): Counts {
    let c = this.counts.get(policy.route);
    if (c === undefined || c.store !== policy.store) {
      c = { route: policy.route, store: policy.store, hits: 0, misses: 0, stale: 0, bypass: 0 };
      this.counts.set(policy.route, c);
    }
    return c;
  }
}

/** The key of a request under a policy: its template, then the values of the headers it varies on. */
function keyOf(policy: RouteCachePolicy, req: KeySource): string {
  return policy.vary.length === 0 ? policy.key(req) : policy.key(req) + varySuffix(policy.vary, req.headers);
}

/** Whether the request's no-cache skips the lookup (only where the route allows it). */
function bypasses(policy: RouteCachePolicy, req: KeySource): boolean {
  return policy.allowNoCache && asksNoCache(req.headers['cache-control']);
}

/** What a store returned, when it is a stored reply still fresh now. */
function fresh(found: unknown, policy: Freshness): StoredReply | undefined {
  return isStoredReply(found) && entryState(found, policy, Date.now()) === 'fresh' ? found : undefined;
}

/** A reply served from a stored entry (HIT or STALE), with its Age. */
function served(entry: StoredReply, state: 'HIT' | 'STALE', now = Date.now()): CacheOutcome {
  return { reply: fromStored(entry), state, entry, age: ageOf(entry, now) };
}

function flightId(store: CacheStore, key: string): string {
  return `${store.name}\u0000${key}`;
}
