import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RouteCacheCounts } from '../protocol/shapes.js';
import type { Config, RouteConfig } from '../../config/types.js';
import { SYSTEM_CLOCK, type Clock } from '../clock.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Reply } from '../reply.js';
import type { Caches } from './caches.js';
import { singleRange, type ByteRange } from './byte-range.js';
import { varyNames } from './cache-control.js';
import { fillFields, isConditional, notModified } from './conditional.js';
import { currentAge, entryState, requestAccepts, requestDirectives, type FreshnessRules, type RequestDirectives } from './freshness.js';
import { compileKey, invalidates, varySuffix, VARY_SEPARATOR, type Invalidation, type KeyRenderer, type KeySource } from './keys.js';
import {
  fromStored, hasValidator, isStoredReply, isVariantsMarker, lowerCased, retention, toStored, updated, varyMatches, varyValues,
  type StoredReply, type VariantsMarker,
} from './storing.js';
import type { CacheStore } from './store.js';
import { NO_LOCK } from './store.js';

/** A lock outlives the fill it guards by this much (the fill is bounded by the route's timeout). */
const LOCK_MARGIN_MS = 1000;
/** Polling of a Redis entry another process is computing: first delay, growth, ceiling. */
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 50;

/** A route's cache policy, compiled once per routing table. */
export interface RouteCachePolicy {
  readonly route: number;
  readonly store: string;
  readonly key: KeyRenderer;
  /** Whether the key reads the body: only then may a GET with a body use the cache (otherwise its answer may depend on what the key ignores). */
  readonly keyUsesBody: boolean;
  readonly vary: readonly string[];
  readonly allowNoCache: boolean;
  readonly rules: FreshnessRules;
  /** How long (ms) an entry that can be revalidated is kept past its freshness: the store's ttl. */
  readonly keep: number;
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
  // A proxied origin has its own caching headers and nothing else is assumed (nginx's default);
  // an actor is this application's code, written for this topology: the store's ttl applies.
  const ttl = c.ttl ?? (route.proxy === undefined ? store.ttl : 0);
  return {
    route: route.index, store: c.use, key: compileKey(c.key), keyUsesBody: c.key.includes('{body.'), vary: c.vary, allowNoCache: c.allowNoCache,
    rules: { ttl, override: c.freshness === 'route', statuses: c.statuses, staleWhileRevalidate: c.staleWhileRevalidate, staleIfError: c.staleIfError },
    keep: store.ttl, fillTimeout,
  };
}

/** A request on a cached route, as the cache sees it. */
export interface CacheRequest extends KeySource {
  /** The request carries a body (a GET with one is passed through unless the key reads it). */
  readonly hasBody: boolean;
}

/** How the cache asks for a reply: the method and request fields to send (a HEAD is filled with a GET; a fill drops the client's conditionals). */
export interface FillRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

export type Fill = (how: FillRequest) => Promise<Reply>;

/**
 * How a cached route's request was answered (the X-Cache header): HIT from the store; MISS
 * from the origin; REVALIDATED from the store after the origin said 304; STALE a stale entry
 * (stale-while-revalidate, stale-if-error); BYPASS the cache was not used (a client's no-cache
 * where allowed, a Range request, a GET with a body).
 */
export type CacheState = 'HIT' | 'MISS' | 'STALE' | 'BYPASS' | 'REVALIDATED';

export interface CacheOutcome {
  readonly reply: Reply;
  readonly state: CacheState;
  /** The stored entry the reply comes from (written as stored). */
  readonly entry?: StoredReply;
  /** Seconds for the Age field, when the reply comes from the store. */
  readonly age?: number;
  /** The client's own conditional request matched: answer 304 with the entry's (or reply's) fields. */
  readonly notModified?: boolean;
  /** A Range request answered from a stored complete reply: 206 with this part, or 416. */
  readonly range?: ByteRange | 'unsatisfiable';
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

/** What one fill produced, for its leader and the requests that joined it. */
interface FillResult {
  readonly reply: Reply;
  /** What is stored now (a new entry, or the old one freshened by a 304). */
  readonly entry?: StoredReply;
  readonly revalidated: boolean;
  /** Whether requests other than the leader's may be given this reply (see `shareable`). */
  readonly shareable: boolean;
  /** The leader's values of the fields the reply varies on. */
  readonly vary?: Readonly<Record<string, string | null>>;
}

interface Flight {
  readonly key: string;
  readonly store: string;
  readonly result: Promise<FillResult>;
}

/** Reasons a reply is not stored that make it one client's own: never handed to another request. */
const PERSONAL = new Set(['private', 'Authorization', 'Set-Cookie', 'no-store', 'request no-store', 'streamed body']);

const NO_DIRECTIVES: RequestDirectives = { revalidate: false, onlyIfCached: false };

/**
 * The cache step of the request pipeline: a shared cache in the sense of RFC 9111, wrapping
 * dispatch. Lookup (with the reply's Vary), then on a miss one fill per key at a time in this
 * process (single flight) and, with a Redis store, across processes (a short SET NX PX lock;
 * the others poll for the entry, bounded). A stored reply past its freshness is revalidated with
 * its validators (304 freshens it); stale entries are served within stale-while-revalidate
 * (refreshing once in the background) and within stale-if-error when the fill fails.
 */
export class ResponseCache {
  private readonly flights = new Map<string, Flight>();
  private readonly counts = new Map<number, Counts>();

  constructor(private readonly caches: Caches, private readonly log: Logger, private readonly clock: Clock = SYSTEM_CLOCK) {
    // A key invalidated while it is being computed: later requests must not join that fill.
    caches.onInvalidate((inv) => this.dropFlights(inv));
  }

  /**
   * A fresh entry of a store in this process, found without waiting (memory stores): the hit is
   * then written in the same turn as the request was parsed. Undefined sends the request the
   * usual way (`serve`), as do requests that need more than a lookup (conditionals, Range,
   * request directives the route honours, a body).
   */
  hit(policy: RouteCachePolicy, req: CacheRequest): CacheOutcome | undefined {
    const store = this.caches.store(policy.store);
    if (store === undefined || !hasPeek(store) || !plain(policy, req)) return undefined;
    const entry = peekEntry(store, keyOf(policy, req), req.headers);
    if (entry === undefined) return undefined;
    const now = this.clock.now();
    if (entry.noCache || now >= entry.freshUntil) return undefined;
    this.countsOf(policy).hits++;
    return served(entry, 'HIT', now);
  }

  /** Answer one GET or HEAD on a cached route; `fill` dispatches a request to the pool or upstream. */
  async serve(policy: RouteCachePolicy, req: CacheRequest, fill: Fill): Promise<CacheOutcome> {
    const store = this.caches.store(policy.store);
    const counts = this.countsOf(policy);
    if (store === undefined || (req.hasBody && !policy.keyUsesBody)) {
      counts.bypass++;
      return { reply: await fill({ method: req.method, headers: req.headers }), state: 'BYPASS' };
    }
    const key = keyOf(policy, req);
    const directives = policy.allowNoCache ? requestDirectives(req.headers) : NO_DIRECTIVES;
    const entry = await lookup(store, key, req.headers);
    const now = this.clock.now();
    if (req.headers['range'] !== undefined) return this.partial(policy, req, entry, directives, now, fill);
    const state = entry === undefined ? 'expired' : entryState(entry, now);
    if (entry !== undefined && state === 'fresh' && requestAccepts(directives, entry, now)) {
      counts.hits++;
      return withConditional(served(entry, 'HIT', now), req);
    }
    if (entry !== undefined && state === 'revalidate' && !directives.revalidate) {
      counts.stale++;
      this.flight(store, key, policy, req, entry, fill, true).result.catch((err: unknown) => this.log.debug({ err, key }, 'background refresh failed; the stale entry stays'));
      return withConditional(served(entry, 'STALE', now), req);
    }
    if (directives.onlyIfCached) throw new ActorrtError('ACTORRT_E_NOT_CACHED', 'the request says only-if-cached and no stored reply can answer it');

    if (directives.revalidate) counts.bypass++;
    else counts.misses++;
    const staleIfError = entry !== undefined && state !== 'expired' ? entry : undefined;
    let result: FillResult;
    try {
      const flight = this.flight(store, key, policy, req, entry, fill, false);
      result = await flight.result;
      // A reply made for another client's request is used only when it may be shared and was selected for the same values.
      if (!flight.led && (!result.shareable || !varyMatches(result.entry?.vary ?? result.vary, req.headers))) {
        result = await this.fillAndStore(store, key, policy, req, entry, fill);
      }
    } catch (err) {
      if (staleIfError === undefined) throw err;
      counts.stale++;
      return withConditional(served(staleIfError, 'STALE', this.clock.now()), req);
    }
    if (staleIfError !== undefined && result.entry === undefined && result.reply.status >= 500) {
      counts.stale++;
      return withConditional(served(staleIfError, 'STALE', this.clock.now()), req);
    }
    const label: CacheState = directives.revalidate ? 'BYPASS' : result.revalidated ? 'REVALIDATED' : 'MISS';
    if (result.entry !== undefined) return withConditional({ ...served(result.entry, label, this.clock.now()), state: label }, req);
    return withConditional({ reply: result.reply, state: label }, req);
  }

  /**
   * A Range request: answered from a fresh stored complete reply when it asks for one byte range
   * (RFC 9111 section 3.4 lets a cache serve a part of what it stores), else passed to the origin
   * as it is (several ranges, If-Range, nothing fresh stored): partial replies are not stored.
   */
  private async partial(policy: RouteCachePolicy, req: CacheRequest, entry: StoredReply | undefined, directives: RequestDirectives, now: number,
    fill: Fill): Promise<CacheOutcome> {
    const counts = this.countsOf(policy);
    if (entry !== undefined && entry.status === 200 && req.headers['if-range'] === undefined && entryState(entry, now) === 'fresh'
      && requestAccepts(directives, entry, now)) {
      const range = singleRange(req.headers['range'], Buffer.byteLength(entry.body));
      if (range !== undefined) {
        counts.hits++;
        return { ...served(entry, 'HIT', now), range };
      }
    }
    counts.bypass++;
    return { reply: await fill({ method: req.method, headers: req.headers }), state: 'BYPASS' };
  }

  /** Counts of every cached route in this process (status). */
  stats(): RouteCacheCounts[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  /**
   * One fill per key at a time in this process; later misses join it. `background` fills
   * (stale-while-revalidate) are joined like any other.
   */
  private flight(store: CacheStore, key: string, policy: RouteCachePolicy, req: CacheRequest, entry: StoredReply | undefined, fill: Fill,
    background: boolean): { readonly result: Promise<FillResult>; readonly led: boolean } {
    const id = flightId(store, key);
    const current = this.flights.get(id);
    if (current !== undefined) return { result: current.result, led: false };
    const result = this.coordinated(store, key, policy, req, entry, fill).finally(() => {
      if (this.flights.get(id)?.result === result) this.flights.delete(id);
    });
    this.flights.set(id, { key, store: store.name, result });
    if (background) result.catch(() => undefined);
    return { result, led: true };
  }

  /** Fill under the store's cross-process lock: the holder computes; others wait for its entry, bounded. */
  private async coordinated(store: CacheStore, key: string, policy: RouteCachePolicy, req: CacheRequest, entry: StoredReply | undefined,
    fill: Fill): Promise<FillResult> {
    let lock = await store.lock(key, policy.fillTimeout + LOCK_MARGIN_MS);
    if (lock.state === 'busy') {
      const stored = await this.waitForHolder(store, key, policy, req);
      if (stored !== undefined) return fromEntry(stored);
      // The holder went away or took too long: take the lock if it is free, compute either way.
      lock = await store.lock(key, policy.fillTimeout + LOCK_MARGIN_MS);
      if (lock.state !== 'held') lock = NO_LOCK;
    }
    try {
      if (lock.state === 'held') {
        // Another process may have stored it between our miss and our lock (and released its lock).
        const stored = fresh(await lookup(store, key, req.headers), this.clock.now());
        if (stored !== undefined) return fromEntry(stored);
      }
      return await this.fillAndStore(store, key, policy, req, entry, fill);
    } finally {
      await lock.release();
    }
  }

  /** Poll for the entry another process is computing, until it appears, its lock is gone, or the fill timeout passes. */
  private async waitForHolder(store: CacheStore, key: string, policy: RouteCachePolicy, req: CacheRequest): Promise<StoredReply | undefined> {
    const deadline = Date.now() + policy.fillTimeout;
    let delay = POLL_FIRST_MS;
    while (Date.now() < deadline) {
      await sleep(delay);
      delay = Math.min(POLL_MAX_MS, delay * 2);
      const found = fresh(await lookup(store, key, req.headers), this.clock.now());
      if (found !== undefined) return found;
      if (!(await store.locked(key))) return fresh(await lookup(store, key, req.headers), this.clock.now()); // stored between the two reads
    }
    return undefined;
  }

  /**
   * Ask the origin (unconditionally, or with `entry`'s validators to revalidate it) and store
   * what may be stored, unless the key was invalidated meanwhile.
   */
  private async fillAndStore(store: CacheStore, key: string, policy: RouteCachePolicy, req: CacheRequest, entry: StoredReply | undefined,
    fill: Fill): Promise<FillResult> {
    const mark = this.caches.mark();
    const revalidating = entry !== undefined && hasValidator(entry.headers) ? entry : undefined;
    const requestTime = this.clock.now();
    const reply = await fill({ method: 'GET', headers: fillFields(req.headers, revalidating) });
    const responseTime = this.clock.now();
    const keep = !this.caches.invalidatedSince(mark, store.name, key);
    if (revalidating !== undefined && reply.status === 304) {
      const freshened = updated(revalidating, reply, policy.rules, requestTime, responseTime);
      if (keep) await put(store, key, freshened, policy.keep, this.clock);
      return { ...fromEntry(freshened), revalidated: true };
    }
    const stored = toStored({ method: 'GET', headers: req.headers }, reply, policy.rules, requestTime, responseTime);
    if (typeof stored !== 'string') {
      if (keep) await put(store, key, stored, policy.keep, this.clock);
      return fromEntry(stored);
    }
    this.log.debug({ key, reason: stored }, 'reply not stored');
    const names = varyNames(lowerCased(reply.headers)['vary']);
    return {
      reply, revalidated: false, shareable: !PERSONAL.has(stored) && reply.status !== 304 && names[0] !== '*',
      ...(names.length === 0 || names[0] === '*' ? {} : { vary: varyValues(names, req.headers) }),
    };
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

/** The key of a request under a policy: its template (a HEAD keyed as the GET it is answered from), then the values of the route's `vary` headers. */
function keyOf(policy: RouteCachePolicy, req: CacheRequest): string {
  const base = policy.key(req.method === 'HEAD' ? { ...req, method: 'GET' } : req);
  return policy.vary.length === 0 ? base : base + varySuffix(policy.vary, req.headers);
}

/** A request the fast path may answer: nothing in it asks for more than a lookup. */
function plain(policy: RouteCachePolicy, req: CacheRequest): boolean {
  const h = req.headers;
  if (h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined || h['range'] !== undefined) return false;
  if (policy.allowNoCache && (h['cache-control'] !== undefined || h['pragma'] !== undefined)) return false;
  return !req.hasBody || policy.keyUsesBody;
}

/** The entry a request selects at `key`: the one stored there, or the variant its Vary values pick. */
async function lookup(store: CacheStore, key: string, headers: CacheRequest['headers']): Promise<StoredReply | undefined> {
  const found = select(await store.get(key), key, headers);
  return typeof found === 'string' ? selected(await store.get(found), headers) : found;
}

function hasPeek(store: CacheStore): store is CacheStore & { peek(key: string): unknown } {
  return store.peek !== undefined;
}

/** `lookup` without waiting, for stores in this process. */
function peekEntry(store: CacheStore & { peek(key: string): unknown }, key: string, headers: CacheRequest['headers']): StoredReply | undefined {
  const found = select(store.peek(key), key, headers);
  return typeof found === 'string' ? selected(store.peek(found), headers) : found;
}

/** What is stored at `key` selects: an entry, or (a variants marker) the key of the variant to read next. */
function select(found: unknown, key: string, headers: CacheRequest['headers']): StoredReply | string | undefined {
  if (isVariantsMarker(found)) return variantKey(key, found, varyValues(found.names, headers));
  return selected(found, headers);
}

/** `found` when it is a stored reply whose Vary values the request presents. */
function selected(found: unknown, headers: CacheRequest['headers']): StoredReply | undefined {
  return isStoredReply(found) && varyMatches(found.vary, headers) ? found : undefined;
}

/** Store an entry at `key`, or, when it varies, as a variant under the key's marker (reusing the marker when it names the same fields). */
async function put(store: CacheStore, key: string, entry: StoredReply, keep: number, clock: Clock): Promise<void> {
  const ttl = retention(entry, clock.now(), keep);
  if (entry.vary === undefined) return store.set(key, entry, ttl);
  const names = Object.keys(entry.vary);
  const found = await store.get(key);
  const now = clock.now();
  const reuse = isVariantsMarker(found) && sameNames(found.names, names) ? found : undefined;
  // The marker lives as long as its longest-lived variant: a short-lived sibling stored later must not orphan a fresh one.
  const markerTtl = Math.max(ttl, keep, reuse?.until === undefined ? 0 : reuse.until - now);
  const marker: VariantsMarker = { kind: 'variants', names, id: reuse?.id ?? randomBytes(6).toString('base64url'), until: now + markerTtl };
  await store.set(key, marker, markerTtl);
  await store.set(variantKey(key, marker, entry.vary), entry, ttl);
}

/** Where the variant selected by `values` lives: under the key, so that invalidating the key (with variants) reaches it too. */
function variantKey(key: string, marker: VariantsMarker, values: Readonly<Record<string, string | null>>): string {
  const digest = createHash('sha1').update(JSON.stringify(marker.names.map((n) => values[n] ?? null))).digest('base64url');
  return `${key}${VARY_SEPARATOR}v${marker.id}:${digest}`;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** An entry still fresh now, else undefined. */
function fresh(entry: StoredReply | undefined, now: number): StoredReply | undefined {
  return entry !== undefined && entryState(entry, now) === 'fresh' ? entry : undefined;
}

function fromEntry(entry: StoredReply): FillResult {
  return { reply: fromStored(entry), entry, revalidated: false, shareable: true };
}

/** A reply served from a stored entry, with its Age. */
function served(entry: StoredReply, state: CacheState, now: number): CacheOutcome {
  return { reply: fromStored(entry), state, entry, age: currentAge(entry, now) };
}

/** Mark the outcome 304 when the client's own conditional matches what it would get (RFC 9111 section 4.3.2). */
function withConditional(outcome: CacheOutcome, req: CacheRequest): CacheOutcome {
  if (!isConditional(req.headers)) return outcome;
  const selected = outcome.entry ?? { status: outcome.reply.status, headers: lowerCased(outcome.reply.headers) };
  return notModified(req.headers, selected) ? { ...outcome, notModified: true } : outcome;
}

function flightId(store: CacheStore, key: string): string {
  return `${store.name}\u0000${key}`;
}
