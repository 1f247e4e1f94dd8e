import { dirname } from 'node:path';
import type { Config } from '../../config/types.js';
import type { Logger } from '../logger.js';
import { HEARTBEAT_MS } from '../protocol/messages.js';
import { describeStall, stallFile, stuckAt, takeStall, type Stall } from '../profile/stall.js';
import { judge, watchdogOf, type VitalLimits } from '../supervision/liveness.js';
import { FRONT } from './processes.js';
import type { Child } from './child.js';
import type { ChildSupervisor } from './supervisor.js';

/** How often the watchdog looks at every process. */
const TICK_MS = 500;
/** After a failed recycle, how long before the same process may be tried again. */
const RECYCLE_RETRY_MS = 30_000;
/**
 * Past its watchdog bound, how much longer a silent process may wait for its stall thread to
 * write where it is stuck. The thread writes at half the bound (stall-watch.ts), so this is used
 * only on a machine too busy to run it in time, or for a process stopped whole (SIGSTOP).
 */
const STALL_GRACE_MS = 1000;

/** The bounds a process of `group` is held to. */
export function vitalLimits(config: Config, group: string): VitalLimits {
  if (group === FRONT) return { watchdog: watchdogOf(config, undefined), maxRss: config.http.maxRss };
  return { watchdog: watchdogOf(config, group), maxRss: config.pools[group]?.maxRss };
}

/**
 * Watches every serving process's heartbeats: one whose event loop stopped turning (an actor in
 * a busy loop, a process stopped with SIGSTOP) is killed, and supervision restarts it like any
 * crash; its log line says where it was stuck, from the stall file its stall thread wrote into
 * `runtimeDir`. One past its maxRss is replaced gracefully through `recycle` (new before old). A
 * process taking a heap snapshot (excused) is left alone.
 */
export function watchProcesses(supervisor: ChildSupervisor, config: () => Config, recycle: (child: Child, why: string, fields: Readonly<Record<string, unknown>>) => Promise<void>,
  runtimeDir: string, log: Logger, replaced: (child: Child, reason: 'unresponsive' | 'max_rss') => void = () => undefined): () => void {
  const recycling = new Set<Child>();
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const late = now - last > TICK_MS * 4;
    last = now;
    // This loop was itself held up (a suspended VM, a swapped-out primary): heartbeats that
    // arrived meanwhile are still queued, so silence proves nothing this time.
    if (late) {
      supervisor.excuseSilence(now);
      return;
    }
    for (const child of supervisor.list()) {
      if (child.state !== 'up' || child.excused) continue;
      const limits = vitalLimits(config(), child.spec.group);
      const verdict = judge(child.vitals, limits, now);
      if (verdict.action === 'kill') {
        const pid = child.pid;
        const stall = pid === undefined ? undefined : stallOf(runtimeDir, pid, child.vitals.lastAlive);
        if (stall === undefined && verdict.silentFor <= limits.watchdog + STALL_GRACE_MS) continue;
        const base = dirname(config().file);
        const where = stall === undefined ? undefined : stuckAt(stall, base);
        const why = `unresponsive for ${verdict.silentFor} ms (event loop blocked), ${describeStall(stall, base)}`;
        if (!supervisor.kill(child, why)) continue;
        replaced(child, 'unresponsive');
        log.error({
          ...child.spec.fields, childPid: pid, silentFor: verdict.silentFor, event: 'unresponsive',
          ...(where === undefined ? {} : { stuckAt: where }), ...(stall?.error === undefined ? {} : { stallError: stall.error }),
        }, `${child.spec.name} is ${why}; killing it so it is replaced`);
      } else if (verdict.action === 'recycle' && !recycling.has(child)) {
        recycling.add(child);
        recycle(child, `resident memory ${Math.round(verdict.rss / 1048576)} MiB is past maxRss`, { rss: verdict.rss, maxRss: limits.maxRss })
          .then(() => {
            recycling.delete(child);
            replaced(child, 'max_rss');
          }, (err: unknown) => {
            log.error({ ...child.spec.fields, err: (err as Error).message }, `${child.spec.name}: could not start its replacement; it keeps serving`);
            setTimeout(() => recycling.delete(child), RECYCLE_RETRY_MS).unref();
          });
      }
    }
  }, TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The stall process `pid` wrote, if it is about this silence: taken before the process last
 * showed life (its previous heartbeat), give or take a heartbeat, it is one it recovered from.
 */
function stallOf(runtimeDir: string, pid: number, lastAlive: number): Stall | undefined {
  const stall = takeStall(stallFile(runtimeDir, pid));
  return stall !== undefined && stall.pid === pid && stall.since >= lastAlive - 2 * HEARTBEAT_MS ? stall : undefined;
}
