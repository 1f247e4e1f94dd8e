import type { ActorCache } from '../../actors/index.js';
import { parseDuration } from '../../config/units.js';
import { ActorrtError } from '../errors.js';
import type { Caches } from './caches.js';
import type { Invalidation } from './keys.js';

/**
 * `ctx.caches`: every store of the topology by name, as an actor uses it. Same deadline and failure
 * behaviour as route caches (a failing store reads as a miss, a write is dropped); `delete` reaches
 * every process's memory store, as a route's invalidate does. Memory stores hand out copies, so an
 * actor that changes an object after `set` (or after `get`) does not change what is stored, as with Redis.
 */
export function actorCaches(caches: Caches, invalidate: (inv: Invalidation) => Promise<void>): Readonly<Record<string, ActorCache>> {
  const made = new Map<string, ActorCache>();
  const cacheFor = (name: string): ActorCache | undefined => {
    if (!caches.names().includes(name)) return undefined;
    let cache = made.get(name);
    if (cache === undefined) {
      cache = storeApi(name, caches, invalidate);
      made.set(name, cache);
    }
    return cache;
  };
  // A proxy, so that stores a reload adds are there without rebuilding every actor's context.
  return new Proxy({} as Record<string, ActorCache>, {
    get: (_, name) => (typeof name === 'string' ? cacheFor(name) : undefined),
    has: (_, name) => typeof name === 'string' && caches.names().includes(name),
    ownKeys: () => caches.names(),
    getOwnPropertyDescriptor: (_, name) => {
      const value = typeof name === 'string' ? cacheFor(name) : undefined;
      return value === undefined ? undefined : { value, enumerable: true, configurable: true, writable: false };
    },
  });
}

function storeApi(name: string, caches: Caches, invalidate: (inv: Invalidation) => Promise<void>): ActorCache {
  const store = (): NonNullable<ReturnType<Caches['store']>> => {
    const s = caches.store(name);
    if (s === undefined) throw new ActorrtError('ACTORRT_E_UNKNOWN_CACHE', `ctx.caches.${name}: the topology no longer declares this cache`);
    return s;
  };
  return Object.freeze({
    async get<T>(key: string): Promise<T | undefined> {
      const s = store();
      const value = await s.get(key);
      return (s.kind === 'memory' && value !== undefined ? structuredClone(value) : value) as T | undefined;
    },
    async set(key: string, value: unknown, ttl?: number | string): Promise<void> {
      const s = store();
      const ms = ttl === undefined ? caches.ttlOf(name) : parseDuration(ttl);
      if (ttl === undefined && (ms === undefined || ms <= 0)) {
        throw new ActorrtError('ACTORRT_E_BAD_ARGUMENT', `ctx.caches.${name}.set: no ttl given, and the store's ttl (caches.${name}.ttl) is 0`, { hint: "give one: set(key, value, '30s'), or set the store's ttl" });
      }
      if (ms === undefined || ms <= 0) {
        throw new ActorrtError('ACTORRT_E_BAD_ARGUMENT', `ctx.caches.${name}.set: ttl ${typeof ttl === 'number' ? String(ttl) : JSON.stringify(ttl)} is not a duration above 0`, { hint: 'use milliseconds or a string like 30s, 5m' });
      }
      await s.set(key, s.kind === 'memory' ? structuredClone(value) : value, ms);
    },
    async delete(key: string): Promise<void> {
      store();
      await invalidate(key.endsWith('*') ? { keys: [], prefixes: [key.slice(0, -1)], stores: [name] } : { keys: [key], prefixes: [], stores: [name] });
    },
  });
}
