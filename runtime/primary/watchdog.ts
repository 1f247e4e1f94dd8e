import type { Config } from '../../config/types.js';
import type { Logger } from '../logger.js';
import { judge, type VitalLimits } from '../supervision/liveness.js';
import { FRONT } from './processes.js';
import type { Child } from './child.js';
import type { ChildSupervisor } from './supervisor.js';

/** How often the watchdog looks at every process. */
const TICK_MS = 500;
/** After a failed recycle, how long before the same process may be tried again. */
const RECYCLE_RETRY_MS = 30_000;

/** The bounds a process of `group` is held to. */
export function vitalLimits(config: Config, group: string): VitalLimits {
  if (group === FRONT) return { watchdog: config.http.watchdog, maxRss: config.http.maxRss };
  const pool = config.pools[group];
  return { watchdog: pool?.watchdog ?? config.http.watchdog, maxRss: pool?.maxRss };
}

/**
 * Watches every serving process's heartbeats: one whose event loop stopped turning (an actor in
 * a busy loop, a process stopped with SIGSTOP) is killed, and supervision restarts it like any
 * crash; one past its maxRss is replaced gracefully through `recycle` (new before old).
 */
export function watchProcesses(supervisor: ChildSupervisor, config: () => Config, recycle: (child: Child, why: string, fields: Readonly<Record<string, unknown>>) => Promise<void>, log: Logger,
  replaced: (child: Child, reason: 'unresponsive' | 'max_rss') => void = () => undefined): () => void {
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
      if (child.state !== 'up') continue;
      const limits = vitalLimits(config(), child.spec.group);
      const verdict = judge(child.vitals, limits, now);
      if (verdict.action === 'kill') {
        const why = `unresponsive for ${verdict.silentFor} ms (event loop blocked)`;
        const pid = child.pid;
        if (!supervisor.kill(child, why)) continue;
        replaced(child, 'unresponsive');
        log.error({ ...child.spec.fields, childPid: pid, silentFor: verdict.silentFor, event: 'unresponsive' }, `${child.spec.name} is ${why}; killing it so it is replaced`);
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
