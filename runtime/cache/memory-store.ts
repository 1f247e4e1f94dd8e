import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { MemoryCache } from '../../config/types.js';
import { SYSTEM_CLOCK, type Clock } from '../clock.js';
import { invalidates, type Invalidation } from './keys.js';
import { NO_LOCK, type CacheStore, type Lock, type StoreStats } from './store.js';

/** What keyv keeps per key (its own envelope: the value and when it expires). */
interface Envelope {
  readonly value: unknown;
  readonly expires?: number;
}

/** What the LRU keeps per key: keyv's envelope and when it was stored (ms since the epoch). */
interface Stored {
  readonly envelope: Envelope;
  readonly at: number;
}

/** Bytes counted for an entry besides its key and value (the LRU's own bookkeeping, roughly). */
const ENTRY_OVERHEAD = 64;

/**
 * A memory store: keyv over lru-cache, one per process. Bounded by `maxEntries` and, when set,
 * `maxBytes` (least recently used go first); entries also leave at their TTL. Values are kept as
 * they are (no serialization), so a hit costs a map lookup.
 */
export class MemoryStore implements CacheStore {
  readonly kind = 'memory' as const;
  private readonly lru: LRUCache<string, Stored>;
  private readonly keyv: Keyv;
  /**
   * Set while the instance is cut off from the invalidation bus (ms): an entry stored longer ago
   * may have missed an invalidation from another instance, so it reads as a miss.
   */
  maxAge: number | undefined;

  constructor(readonly name: string, readonly config: MemoryCache, private readonly clock: Clock = SYSTEM_CLOCK) {
    this.lru = new LRUCache<string, Stored>({
      max: config.maxEntries,
      perf: clock,
      // lru-cache reads its clock at most once per ttlResolution (1 ms) of real time: a test clock moved in between would go unseen.
      ...(clock === SYSTEM_CLOCK ? {} : { ttlResolution: 0 }),
      ...(config.maxBytes === undefined ? {} : { maxSize: config.maxBytes, maxEntrySize: config.maxBytes }),
    });
    const lru = this.lru;
    const sized = config.maxBytes !== undefined;
    // keyv hands a number TTL as the third argument; lru-cache takes an options object. keyv dated
    // its envelope by Date.now(): under another clock (the test kit's may run ahead) it is dated
    // again by that clock, which the LRU's TTL (perf) also reads, so both expire an entry at once.
    const redate = clock !== SYSTEM_CLOCK;
    const adapter = {
      get: (key: string) => this.envelope(key),
      set: (key: string, value: Envelope, ttl?: number) => {
        const at = clock.now();
        const envelope = ttl === undefined || !redate ? value : { ...value, expires: at + ttl };
        lru.set(key, { envelope, at }, { ...(ttl === undefined ? {} : { ttl }), ...(sized ? { size: sizeOf(key, value.value) } : {}) });
        return true;
      },
      delete: (key: string) => lru.delete(key),
      clear: () => lru.clear(),
    };
    this.keyv = new Keyv({ store: adapter, useKeyPrefix: false });
    // Kept as objects: nothing leaves the process, so serializing would only cost time.
    this.keyv.serialize = undefined;
    this.keyv.deserialize = undefined;
  }

  get(key: string): Promise<unknown> {
    return this.keyv.get(key);
  }

  /** What get() resolves to, synchronously: the same envelope keyv wrote, the same expiry check. */
  peek(key: string): unknown {
    const envelope = this.envelope(key);
    if (envelope === undefined || (envelope.expires !== undefined && this.clock.now() > envelope.expires)) return undefined;
    return envelope.value;
  }

  /** The envelope stored for `key`, unless the bus is cut off and it is older than `maxAge`. */
  private envelope(key: string): Envelope | undefined {
    const stored = this.lru.get(key);
    if (stored === undefined || (this.maxAge !== undefined && this.clock.now() - stored.at > this.maxAge)) return undefined;
    return stored.envelope;
  }

  async set(key: string, value: unknown, ttl: number): Promise<void> {
    await this.keyv.set(key, value, ttl);
  }

  async delete(inv: Invalidation, variants: boolean): Promise<void> {
    for (const key of inv.keys) this.lru.delete(key);
    if (inv.prefixes.length === 0 && !variants) return;
    const matching = variants ? inv : { keys: [], prefixes: inv.prefixes };
    for (const key of [...this.lru.keys()]) if (invalidates(matching, key)) this.lru.delete(key);
  }

  /** One process: the in-process single flight already coalesces, nothing to lock across. */
  lock(): Promise<Lock> {
    return Promise.resolve(NO_LOCK);
  }

  locked(): Promise<boolean> {
    return Promise.resolve(false);
  }

  stats(): StoreStats {
    return { name: this.name, kind: 'memory', entries: this.lru.size, ...(this.config.maxBytes === undefined ? {} : { bytes: this.lru.calculatedSize }), errors: 0, available: true };
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.lru.clear();
    return Promise.resolve();
  }
}

/** Bytes an entry is counted for: key, value (a stored reply's body and headers, or JSON) and overhead. */
function sizeOf(key: string, value: unknown): number {
  let bytes = key.length + ENTRY_OVERHEAD;
  if (Buffer.isBuffer(value)) return bytes + value.length;
  if (value !== null && typeof value === 'object' && (value as { kind?: unknown }).kind === 'reply') {
    const { body, headers } = value as { body: string | Buffer; headers?: unknown };
    return bytes + Buffer.byteLength(body) + JSON.stringify(headers ?? {}).length;
  }
  try {
    bytes += JSON.stringify(value)?.length ?? 0;
  } catch { /* not serializable: counted by its overhead only */ }
  return bytes;
}
