import { ActorrtError } from '../runtime/errors.js';
import { didYouMean } from './hints.js';
import { deepFreeze } from './normalize.js';
import type { Config, PoolConfig } from './types.js';

/** One `actorrt scale` argument: a pool's actors per process (`size`) or its process count. */
export interface ScaleOverride {
  readonly pool: string;
  readonly key: 'size' | 'processes' | 'threads';
  readonly value: number;
}

/** The same bounds as the schema's. */
const LIMITS = { size: 4096, processes: 256, threads: 256 } as const;

/** Parse `api=8`, `api.size=8`, `thumbs.processes=2` and `crunch.threads=4`; throws ACTORRT_E_USAGE naming the bad argument. */
export function parseScale(args: readonly string[]): ScaleOverride[] {
  if (args.length === 0) throw new ActorrtError('ACTORRT_E_USAGE', 'scale needs at least one <pool>=<size>, <pool>.processes=<n> or <pool>.threads=<n>');
  return args.map((arg) => {
    const m = /^([A-Za-z0-9_-]+)(?:\.(size|processes|threads))?=(\d+)$/.exec(arg);
    if (m === null) throw new ActorrtError('ACTORRT_E_USAGE', `"${arg}" is not <pool>=<size>, <pool>.size=<n>, <pool>.processes=<n> or <pool>.threads=<n>`);
    return { pool: m[1] as string, key: (m[2] ?? 'size') as ScaleOverride['key'], value: Number(m[3]) };
  });
}

/** The topology with the overrides applied; unknown pools and out-of-range values are refused with a hint. */
export function applyScale(config: Config, overrides: readonly ScaleOverride[]): Config {
  const pools: Record<string, PoolConfig> = { ...config.pools };
  for (const o of overrides) {
    // Own keys only: `toString`, `constructor` or `__proto__` are names the user typed, not pools.
    const pool = Object.hasOwn(pools, o.pool) ? pools[o.pool] : undefined;
    if (pool === undefined) {
      const hint = didYouMean(o.pool, Object.keys(pools));
      throw new ActorrtError('ACTORRT_E_CONFIG_UNKNOWN_REF', `the running topology has no pool "${o.pool}"`, { hint: hint ?? `pools: ${Object.keys(pools).join(', ')}` });
    }
    if (o.value < 1 || o.value > LIMITS[o.key]) {
      throw new ActorrtError('ACTORRT_E_CONFIG_VALUE', `${o.pool}.${o.key} must be from 1 to ${LIMITS[o.key]}; got ${o.value}`);
    }
    if (o.key === 'processes' && pool.processes === undefined) {
      throw new ActorrtError('ACTORRT_E_CONFIG_VALUE', `pool "${o.pool}" runs inside the front workers; it has no processes to scale`,
        { hint: pool.threads === undefined ? `scale its actors with ${o.pool}=<size>, or give it processes: in the topology file and reload` : `scale its threads with ${o.pool}.threads=<n>, its actors per thread with ${o.pool}=<size>` });
    }
    if (o.key === 'threads' && pool.threads === undefined) {
      throw new ActorrtError('ACTORRT_E_CONFIG_VALUE', `pool "${o.pool}" does not run in threads; it has no threads to scale`,
        { hint: pool.processes === undefined ? `scale its actors with ${o.pool}=<size>, or give it threads: in the topology file and reload` : `scale its processes with ${o.pool}.processes=<n>` });
    }
    pools[o.pool] = { ...pool, [o.key]: o.value };
  }
  return deepFreeze({ ...config, pools });
}
