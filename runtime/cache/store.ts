import type { Invalidation, StoreStats } from '../protocol/shapes.js';

export type { StoreStats };

/**
 * One named cache store as a process uses it. Every operation is bounded by the store's timeout
 * and never rejects: a store that fails or is slow answers "not found" (or drops the write), so a
 * cache can only make a request faster, never fail it.
 */
export interface CacheStore {
  readonly name: string;
  readonly kind: 'memory' | 'redis';
  /** The stored value, or undefined (absent, expired, or the store failed). */
  get(key: string): Promise<unknown>;
  /** Stores in this process only: the value now, without waiting (the hit path of memory stores). */
  peek?(key: string): unknown;
  /** Store `value` for `ttl` ms. */
  set(key: string, value: unknown, ttl: number): Promise<void>;
  /**
   * Remove the invalidation's keys and every key starting with one of its prefixes; with
   * `variants`, also the keys' vary variants (`key#...`), which takes a scan of the store.
   */
  delete(inv: Invalidation, variants: boolean): Promise<void>;
  /**
   * Try to take a short lock on `key` (coalescing misses across processes). `held`: this caller
   * computes; `busy`: another holder does; `unavailable`: the store cannot coordinate (compute).
   */
  lock(key: string, ttl: number): Promise<Lock>;
  /** Whether another process holds the lock on `key` (false when unknown: the caller then computes). */
  locked(key: string): Promise<boolean>;
  stats(): StoreStats;
  /** Resolves once the store can answer, or after `wait` ms (never rejects). */
  ready(wait: number): Promise<void>;
  close(): Promise<void>;
}

/** The outcome of `lock`; `release` is a no-op unless it was held. */
export interface Lock {
  readonly state: 'held' | 'busy' | 'unavailable';
  release(): Promise<void>;
}


/** A lock that was not taken. */
export const NO_LOCK: Lock = { state: 'unavailable', release: () => Promise.resolve() };
