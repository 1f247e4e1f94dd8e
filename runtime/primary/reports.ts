import type { Config } from '../../config/types.js';
import { InstanceMetrics } from '../metrics/instance-metrics.js';
import { SupervisionCounters } from '../supervision/counters.js';
import type { LinkEvents } from './child-link.js';
import { ResourceHealth } from './resource-health.js';

/** What running processes report to the primary after start-up: supervision counts and resource health. */
export class ProcessReports {
  readonly counters = new SupervisionCounters();
  readonly health = new ResourceHealth();
  /** Every process's counts, kept across their exits (metrics). */
  readonly metrics = new InstanceMetrics();
  /** Renders the instance's metrics for a front worker that serves `http.metricsPath` (the primary sets it once its scraper runs). */
  expose: (openMetrics: boolean) => Promise<{ readonly contentType: string; readonly body: string }> = () => Promise.reject(new Error('metrics are not served yet'));
  /** Times a process reported each resource unreachable. */
  readonly resourceErrors = new Map<string, number>();

  /** `topology()`: the topology in force; reports about pools or resources it does not declare are dropped. */
  constructor(private readonly topology: () => Pick<Config, 'pools' | 'resources'>) {}

  /**
   * The link handlers that record what process `name` (`worker 0`, `<pool> process 1`) reports.
   * Only names the topology declares are kept: a child (an actor can send anything) must not make
   * the primary hold memory for names it made up.
   */
  from(name: string, pid: () => number | undefined): Pick<LinkEvents, 'supervised' | 'resource' | 'finalMetrics'> {
    return {
      supervised: (msg) => { if (Object.hasOwn(this.topology().pools, msg.pool)) this.counters.record(msg.pool, msg.event, msg.count); },
      resource: (msg) => {
        if (!Object.hasOwn(this.topology().resources, msg.resource)) return;
        if (!msg.available) this.resourceErrors.set(msg.resource, (this.resourceErrors.get(msg.resource) ?? 0) + 1);
        this.health.record(name, msg);
      },
      finalMetrics: (msg) => {
        const p = pid();
        if (p !== undefined) this.metrics.record(name, p, msg.metrics);
      },
    };
  }

  /** Process `name` exited: what it said about its resources no longer holds. */
  exited(name: string): void {
    this.health.forget(name);
    this.metrics.exited(name);
  }
}
