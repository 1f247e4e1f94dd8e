import { randomUUID } from 'node:crypto';
import KeyvRedis, { createClient, type RedisClientType } from '@keyv/redis';
import Keyv from 'keyv';
import type { RedisCache, RedisResource } from '../../config/types.js';
import { withDeadline } from '../deadline.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../resources/address.js';
import { VARY_SEPARATOR, type Invalidation } from './keys.js';
import { replyCodec } from './redis-codec.js';
import { NO_LOCK, type CacheStore, type Lock, type StoreStats } from './store.js';

/** After a failed or late operation, how long the store answers "not found" at once instead of trying. */
const DEGRADED_MS = 1000;
/** At most one warning per store per this interval. */
const WARN_EVERY_MS = 10_000;
/** Reconnect delays: 100 ms doubling up to 5 s, forever (a cache never gives up on its server). */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;
/** Keys removed per SCAN round trip. */
const SCAN_COUNT = 500;
/** Releases a lock only if it is still ours (it may have expired and been taken by another process). */
const UNLOCK_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

const LATE = Symbol('late');

/**
 * A Redis store: keyv with @keyv/redis on a connection of its own, made from the named redis
 * resource's settings. It never holds up a request: every operation runs under the store's
 * timeout; a failure or a late answer degrades the store to "not found" for a second (one warning
 * per interval) and it recovers by itself. The connection is made in the background, so a Redis
 * that is down at start-up does not stop the instance from serving (keyv and @keyv/redis are
 * known to hang when Redis goes away: keyv #1470, #1496, #1798; hence the deadlines here).
 */
export class RedisStore implements CacheStore {
  readonly kind = 'redis' as const;
  private readonly client: RedisClientType;
  private readonly keyv: Keyv;
  private degradedUntil = 0;
  private lastWarning = 0;
  private errors = 0;
  private closed = false;
  /** The server, for warnings (credentials redacted). */
  private readonly where: string;
  /** Before every key: the resource's keyPrefix and the cache's namespace. */
  private readonly prefix: string;

  constructor(readonly name: string, readonly config: RedisCache, resource: RedisResource, private readonly log: Logger) {
    this.where = redactUrl(resource.url);
    this.prefix = `${resource.keyPrefix ?? ''}${config.namespace}`;
    this.client = createClient({
      url: resource.url,
      disableOfflineQueue: true, // while disconnected, commands fail at once instead of queueing
      socket: {
        connectTimeout: resource.connectTimeout,
        reconnectStrategy: (retries: number) => Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** retries),
      },
    });
    this.client.on('error', (err: Error) => this.failed('connection error', err));
    this.client.on('ready', () => {
      if (this.errors > 0) log.info({ cache: name }, 'redis cache reachable again');
    });
    const adapter = new KeyvRedis(this.client, { keyPrefixSeparator: ':', throwOnConnectError: false, throwOnErrors: true });
    this.keyv = new Keyv({ store: adapter, namespace: this.prefix, useKeyPrefix: false, throwOnErrors: true });
    const { serialize, deserialize } = this.keyv;
    if (serialize !== undefined && deserialize !== undefined) Object.assign(this.keyv, replyCodec({ serialize, deserialize }));
    this.keyv.on('error', () => {}); // counted where the call fails; keyv would otherwise throw on an unheard error event
    this.client.connect().catch((err: unknown) => this.failed('could not connect', err));
  }

  get(key: string): Promise<unknown> {
    return this.run('get', () => this.keyv.get(key), undefined);
  }

  async set(key: string, value: unknown, ttl: number): Promise<void> {
    await this.run('set', () => this.keyv.set(key, value, ttl), undefined);
  }

  async delete(inv: Invalidation, variants: boolean): Promise<void> {
    const full = inv.keys.map((k) => this.redisKey(k));
    if (full.length > 0) await this.run('delete', () => this.client.unlink(full), undefined);
    // Each prefix is a SCAN over the whole keyspace (MATCH only filters), never KEYS; variants of
    // exact keys are scanned for only when a route of this store varies.
    const starts = variants ? [...inv.prefixes, ...inv.keys.map((k) => k + VARY_SEPARATOR)] : inv.prefixes;
    for (const start of starts) await this.deletePrefix(start);
  }

  async lock(key: string, ttl: number): Promise<Lock> {
    const lockKey = this.lockKey(key);
    const token = randomUUID();
    const taken = await this.run('lock', () => this.client.set(lockKey, token, { condition: 'NX', expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttl)) } }), LATE);
    if (taken === LATE) return NO_LOCK;
    if (taken === null) return { state: 'busy', release: () => Promise.resolve() };
    return {
      state: 'held',
      release: async () => {
        await this.run('unlock', () => this.client.eval(UNLOCK_SCRIPT, { keys: [lockKey], arguments: [token] }), undefined);
      },
    };
  }

  /** Whether another process still holds the lock on `key` (false when unknown: the caller then computes). */
  async locked(key: string): Promise<boolean> {
    const n = await this.run('lock check', () => this.client.exists(this.lockKey(key)), 0);
    return n === 1;
  }

  stats(): StoreStats {
    return { name: this.name, kind: 'redis', errors: this.errors, available: this.client.isReady && Date.now() >= this.degradedUntil };
  }

  async ready(wait: number): Promise<void> {
    if (this.client.isReady) return;
    await withDeadline(new Promise<void>((resolve) => this.client.once('ready', () => resolve())), wait);
  }

  async close(): Promise<void> {
    this.closed = true;
    try {
      if (this.client.isOpen) await Promise.race([this.client.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    } catch { /* closing a connection that is already gone */ }
    if (this.client.isOpen) this.client.destroy();
  }

  private async deletePrefix(prefix: string): Promise<void> {
    const match = `${escapeGlob(this.redisKey(prefix))}*`;
    let cursor = '0';
    do {
      const page = await this.run('scan', () => this.client.scan(cursor, { MATCH: match, COUNT: SCAN_COUNT }), LATE);
      if (page === LATE) return;
      if (page.keys.length > 0) await this.run('delete', () => this.client.unlink(page.keys), undefined);
      cursor = String(page.cursor);
    } while (cursor !== '0');
  }

  /** Run one Redis operation under the store's deadline; a failure or a late answer gives `fallback` and degrades the store. */
  private async run<T, F>(what: string, op: () => Promise<T>, fallback: F): Promise<T | F> {
    if (this.closed || !this.client.isReady || Date.now() < this.degradedUntil) return fallback;
    let timer: NodeJS.Timeout | undefined;
    // Decided in the check phase after the timer: an answer that arrived while the event loop was
    // busy is read first, so a saturated process does not mistake its own delay for a slow Redis.
    const late = new Promise<typeof LATE>((resolve) => { timer = setTimeout(() => setImmediate(resolve, LATE), this.config.timeout); });
    try {
      const out = await Promise.race([op(), late]);
      if (out === LATE) {
        this.failed(`${what} took longer than ${this.config.timeout} ms`, undefined);
        return fallback;
      }
      return out;
    } catch (err) {
      this.failed(`${what} failed`, err);
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(what: string, err: unknown): void {
    if (this.closed) return;
    this.errors++;
    const now = Date.now();
    this.degradedUntil = now + DEGRADED_MS;
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.log.warn({ cache: this.name, redis: this.where, err: err instanceof Error ? err.message : err },
      `redis cache "${this.name}": ${what}; requests go on as misses until it answers again`);
  }

  private redisKey(key: string): string {
    return `${this.prefix}:${key}`;
  }

  private lockKey(key: string): string {
    // Outside the key space of entries, so that a prefix invalidation never takes a lock with it.
    return `${this.prefix}:~lock:${key}`;
  }
}

/** Escape Redis glob characters so that a prefix matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
