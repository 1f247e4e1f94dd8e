import { performance } from 'node:perf_hooks';
import type { Registry, RegistryContentType } from 'prom-client';
import type { Config } from '../../config/types.js';
import type { PrimarySeries, ProcessIdentity, ProcessPart } from '../metrics/instance-metrics.js';
import { ProcessVitals } from '../metrics/process-vitals.js';
import { VERSION } from '../version.js';
import type { Child } from './child.js';
import { FRONT, type ProcessStats, type Processes } from './processes.js';
import type { ProcessReports } from './reports.js';
import type { InstanceStatus, ReloadOutcome } from './status.js';

/**
 * How long a scrape waits for each process. One that does not answer in time is shown with its
 * last known values and `actorrt_process_up 0`; the rest are served at once (prom-client's cluster
 * mode waits 5 s for all and fails the whole scrape on one stuck worker, #181 #501 #747).
 */
export const SCRAPE_TIMEOUT_MS = 250;


/** One collection from every process: the numbers `status`, `top` and /metrics all read. */
export interface Collected {
  readonly stats: ReadonlyMap<Child, ProcessStats>;
  registry(openMetrics?: boolean): Registry<RegistryContentType>;
}

/**
 * Collects the instance's numbers: one `stats` call with metrics to every running process, each
 * on its own SCRAPE_TIMEOUT_MS bound, then the primary's own series. The primary's event loop
 * does the rest synchronously; the payloads are a few kilobytes per process (measured in the
 * bench: scrape time with 16 processes).
 */
export class Scraper {
  private readonly vitals = new ProcessVitals();
  private lastDuration = 0;
  /** Watchdog replacements by `<role> <pool> <reason>` (the labels, joined). */
  private readonly replacements = new Map<string, number>();

  /** `reloads`: reloads and scales by `<trigger> <result>` (Reloader.tally). */
  constructor(private readonly processes: Processes, private readonly reports: ProcessReports, private readonly reloads: ReadonlyMap<string, number>) {}

  /** The watchdog replaced `child` (its event loop was blocked, or its memory past maxRss). */
  replaced(child: Child, reason: (typeof REPLACEMENT_REASONS)[number]): void {
    const { role, pool } = roleOf(child);
    const key = `${role} ${pool} ${reason}`;
    this.replacements.set(key, (this.replacements.get(key) ?? 0) + 1);
  }

  async collect(status: (stats: ReadonlyMap<Child, ProcessStats>) => InstanceStatus): Promise<Collected> {
    const started = performance.now();
    const stats = await this.processes.loads(SCRAPE_TIMEOUT_MS, true);
    const { metrics } = this.reports;
    const parts: ProcessPart[] = [{ identity: { role: 'primary', pool: '', index: 0, pid: process.pid }, up: true, snapshot: { ...this.vitals.snapshot(), ...this.processes.bus.metrics() } }];
    for (const child of this.processes.supervisor.list()) {
      const { pid } = child;
      if (pid === undefined) continue;
      const answer = stats.get(child)?.metrics;
      if (answer !== undefined) metrics.record(child.spec.name, pid, answer);
      parts.push({ identity: identityOf(child, pid), up: answer !== undefined, snapshot: answer ?? metrics.lastOf(child.spec.name, pid) });
    }
    const own = this.own(status(stats));
    this.lastDuration = (performance.now() - started) / 1000;
    return { stats, registry: (openMetrics = false) => metrics.registry(parts, own, openMetrics) };
  }

  /** The series the primary knows itself: pools and supervision, front workers, resources, reloads, replacements. */
  private own(status: InstanceStatus): Map<string, PrimarySeries[]> {
    const config: Config = this.processes.config;
    const own = new Map<string, PrimarySeries[]>();
    const add = (name: string, labels: readonly string[], value: number): void => {
      let list = own.get(name);
      if (list === undefined) {
        list = [];
        own.set(name, list);
      }
      list.push([labels, value]);
    };
    add('actorrt_info', [VERSION, config.file], 1);
    for (const p of status.pools) {
      const s = p.supervision;
      add('actorrt_pool_size', [p.name], p.size);
      add('actorrt_pool_processes', [p.name], p.processCount ?? 0);
      add('actorrt_pool_processes_running', [p.name], p.processes?.filter((x) => x.up).length ?? 0);
      add('actorrt_pool_up', [p.name], p.state === 'up' ? 1 : 0);
      add('actorrt_pool_restarts_total', [p.name, 'actor'], s['actor-restart']);
      add('actorrt_pool_restarts_total', [p.name, 'process'], s['process-restart']);
      add('actorrt_pool_crashes_total', [p.name], s['actor-restart'] + s['actor-stop'] + s.escalation);
      add('actorrt_pool_actor_stops_total', [p.name], s['actor-stop']);
      add('actorrt_pool_escalations_total', [p.name], s.escalation);
      add('actorrt_pool_give_ups_total', [p.name], s['give-up']);
      const a = p.autoscale;
      if (a !== undefined) {
        add('actorrt_pool_autoscale_current', [p.name, a.unit], a.current);
        add('actorrt_pool_autoscale_min', [p.name, a.unit], a.min);
        add('actorrt_pool_autoscale_max', [p.name, a.unit], a.max);
        if (a.value !== undefined) add('actorrt_pool_autoscale_signal', [p.name, a.signal], a.value);
        add('actorrt_pool_autoscale_target', [p.name, a.signal], a.target);
        add('actorrt_pool_autoscale_pinned', [p.name], a.pinned === undefined ? 0 : 1);
        add('actorrt_pool_autoscale_changes_total', [p.name, 'up'], a.changes.up);
        add('actorrt_pool_autoscale_changes_total', [p.name, 'down'], a.changes.down);
      }
    }
    // Series of events that may never happen start at 0, so that increase() sees the first one
    // (a series that appears with its first count has no earlier sample to increase from).
    for (const p of Object.values(config.pools)) {
      add('actorrt_pool_rejections_total', [p.name], 0);
      add('actorrt_pool_timeouts_total', [p.name], 0);
      if (p.processes !== undefined) for (const reason of REPLACEMENT_REASONS) add('actorrt_process_replacements_total', ['pool', p.name, reason], 0);
    }
    for (const reason of REPLACEMENT_REASONS) add('actorrt_process_replacements_total', ['front', '', reason], 0);
    for (const status of ['400', '408', '431']) add('actorrt_http_client_errors_total', [status], 0);
    for (const trigger of RELOAD_TRIGGERS) for (const result of RELOAD_RESULTS) add('actorrt_reloads_total', [trigger, result], 0);
    add('actorrt_front_workers', [], status.workers.filter((w) => w.up).length);
    add('actorrt_front_worker_restarts_total', [], status.workerRestarts);
    for (const r of status.resources) {
      add('actorrt_resource_up', [r.name], r.state === 'unavailable' ? 0 : 1);
      add('actorrt_resource_errors_total', [r.name], this.reports.resourceErrors.get(r.name) ?? 0);
    }
    for (const [key, n] of this.reloads) add('actorrt_reloads_total', key.split(' '), n);
    for (const [key, n] of this.replacements) add('actorrt_process_replacements_total', key.split(' '), n);
    if (status.bus !== undefined) {
      const b = status.bus;
      add('actorrt_bus_up', [], b.connected ? 1 : 0);
      add('actorrt_bus_peers', [], b.peers);
      add('actorrt_bus_invalidations_total', ['sent'], b.sent);
      add('actorrt_bus_invalidations_total', ['received'], b.received);
      add('actorrt_bus_ack_timeouts_total', [], b.ackTimeouts);
      add('actorrt_bus_flushes_total', [], b.flushes);
      add('actorrt_bus_queued', [], b.queued);
    }
    add('actorrt_scrape_duration_seconds', [], this.lastDuration);
    return own;
  }
}

const REPLACEMENT_REASONS = ['unresponsive', 'max_rss'] as const;
const RELOAD_TRIGGERS: readonly ReloadOutcome['trigger'][] = ['file', 'signal', 'command', 'scale', 'recovery', 'autoscale'];
const RELOAD_RESULTS = ['applied', 'unchanged', 'refused'] as const;

/** A child's `role` and `pool` labels: front workers have no pool. */
function roleOf(child: Child): Pick<ProcessIdentity, 'role' | 'pool'> {
  const front = child.spec.group === FRONT;
  return { role: front ? 'front' : 'pool', pool: front ? '' : child.spec.group };
}

function identityOf(child: Child, pid: number): ProcessIdentity {
  return { ...roleOf(child), index: child.spec.index, pid };
}
