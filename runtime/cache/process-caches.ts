import type { ActorCache } from '../../actors/index.js';
import { SYSTEM_CLOCK, type Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { CacheStats, Invalidation, RouteCacheCounts } from '../protocol/shapes.js';
import { actorCaches } from './actor-caches.js';
import { Caches, type CachesConfig } from './caches.js';

/**
 * The cache side of one process (front worker or pool process): its stores, `ctx.caches` for its
 * actors, and invalidation that reaches every process before it resolves (`elsewhere` carries it
 * to the others, through the primary).
 */
export class ProcessCaches {
  readonly caches: Caches;
  readonly forActors: Readonly<Record<string, ActorCache>>;

  constructor(config: CachesConfig, log: Logger, private readonly elsewhere: (inv: Invalidation) => Promise<void>, clock: Clock = SYSTEM_CLOCK) {
    this.caches = new Caches(config, log, clock);
    this.forActors = actorCaches(this.caches, (inv) => this.everywhere(inv));
  }

  /** Remove keys here (shared stores included) and in every other process's memory stores. */
  readonly everywhere = async (inv: Invalidation): Promise<void> => {
    await Promise.all([this.caches.invalidate(inv), this.elsewhere(inv)]);
  };

  /** What status shows of this process's caches. */
  stats(routes: readonly RouteCacheCounts[] = []): CacheStats {
    return { stores: this.caches.stats(), routes };
  }
}
