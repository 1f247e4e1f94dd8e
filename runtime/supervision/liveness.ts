import type { Config } from '../../config/types.js';

/**
 * The watchdog's decision for one serving process, from what its heartbeats said. Pure: the
 * primary feeds it the clock and carries the verdict out.
 */

/** What the primary last heard from a process. */
export interface Vitals {
  /** When its last heartbeat arrived (or it became ready). */
  readonly lastAlive: number;
  /** Resident memory it reported last, in bytes. */
  readonly rss: number | undefined;
}

/** The bounds a process is held to (from `http.watchdog` / `http.maxRss`, or its isolated pool's). */
export interface VitalLimits {
  /** Milliseconds without a heartbeat before the process counts as hung; 0 = never. */
  readonly watchdog: number;
  readonly maxRss: number | undefined;
}

/**
 * none: healthy. kill: its event loop has not turned for `silentFor` ms, so it cannot drain
 * either: kill it and let supervision restart it. recycle: it grew past maxRss but still serves:
 * start a replacement, then retire it gracefully.
 */
export type Verdict =
  | { readonly action: 'none' }
  | { readonly action: 'kill'; readonly silentFor: number }
  | { readonly action: 'recycle'; readonly rss: number };

/** Decide what to do with a serving process now. */
export function judge(vitals: Vitals, limits: VitalLimits, now: number): Verdict {
  const silentFor = now - vitals.lastAlive;
  if (limits.watchdog > 0 && silentFor > limits.watchdog) return { action: 'kill', silentFor };
  if (limits.maxRss !== undefined && vitals.rss !== undefined && vitals.rss > limits.maxRss) return { action: 'recycle', rss: vitals.rss };
  return { action: 'none' };
}

/** The watchdog bound (ms, 0 = off) of a front worker (`pool` undefined) or of a process of isolated pool `pool`. */
export function watchdogOf(config: Config, pool: string | undefined): number {
  return (pool === undefined ? undefined : config.pools[pool]?.watchdog) ?? config.http.watchdog;
}
