import { deepFreeze } from '../../config/normalize.js';
import type { ScaleOverride } from '../../config/scale.js';
import type { Config, PoolConfig } from '../../config/types.js';
import type { Policy } from './decide.js';

/** The largest size of an autoscaled inline pool whose file gives no `max` (actors per front worker). */
export const INLINE_MAX = 64;

/** The key a pool's size is in: actors per front worker (inline), threads per front worker, or processes (what `actorrt scale` sets too). */
export type Unit = ScaleOverride['key'];

export function unitOf(pool: PoolConfig): Unit {
  return pool.processes !== undefined ? 'processes' : pool.threads !== undefined ? 'threads' : 'size';
}

/** The unit the autoscaler changes for `pool`; undefined = not autoscaled. */
export function autoscaledUnit(pool: PoolConfig | undefined): Unit | undefined {
  return pool?.autoscale === undefined ? undefined : unitOf(pool);
}

/**
 * The pool's autoscale block with `max` resolved: the file's, else INLINE_MAX for an inline pool
 * and the usable CPUs (`cpus`) for thread and isolated pools (CPU-bound work gains nothing past
 * the cores; the decision still measures where growth stops paying).
 */
export function policyOf(pool: PoolConfig, cpus: number): Policy | undefined {
  const a = pool.autoscale;
  if (a === undefined) return undefined;
  const max = a.max ?? Math.max(a.min, unitOf(pool) === 'size' ? INLINE_MAX : cpus);
  return { ...a, max };
}

/**
 * Every autoscaled pool of `next` with its size in [min, max]: the size it has in `running` (the
 * topology in force) when it ran there in the same unit, else the file's. At start (`running`
 * undefined) the file's size is where a pool starts; a reload keeps the size the autoscaler (or a
 * pin) gave it, clamped into the new bounds, so a reload that changes something else does not
 * undo the scaling. A pool that stops autoscaling takes the file's size.
 */
export function autoscaledSizes(next: Config, running: Config | undefined, cpus: number): Config {
  let pools: Record<string, PoolConfig> | undefined;
  for (const pool of Object.values(next.pools)) {
    const policy = policyOf(pool, cpus);
    if (policy === undefined) continue;
    const unit = unitOf(pool);
    const was = running?.pools[pool.name];
    const from = (was !== undefined && unitOf(was) === unit ? was[unit] : undefined) ?? pool[unit] ?? policy.min;
    const value = Math.min(policy.max, Math.max(policy.min, from));
    if (value === pool[unit]) continue;
    pools ??= { ...next.pools };
    pools[pool.name] = { ...pool, [unit]: value };
  }
  return pools === undefined ? next : deepFreeze({ ...next, pools });
}
