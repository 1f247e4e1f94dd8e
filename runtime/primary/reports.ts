import type { Config } from '../../config/types.js';
import { SupervisionCounters } from '../supervision/counters.js';
import type { LinkEvents } from './child-link.js';
import { ResourceHealth } from './resource-health.js';

/** What running processes report to the primary after start-up: supervision counts and resource health. */
export class ProcessReports {
  readonly counters = new SupervisionCounters();
  readonly health = new ResourceHealth();

  /** `topology()`: the topology in force; reports about pools or resources it does not declare are dropped. */
  constructor(private readonly topology: () => Pick<Config, 'pools' | 'resources'>) {}

  /**
   * The link handlers that record what process `name` (`worker 0`, `<pool> process 1`) reports.
   * Only names the topology declares are kept: a child (an actor can send anything) must not make
   * the primary hold memory for names it made up.
   */
  from(name: string): Pick<LinkEvents, 'supervised' | 'resource'> {
    return {
      supervised: (msg) => { if (Object.hasOwn(this.topology().pools, msg.pool)) this.counters.record(msg.pool, msg.event, msg.count); },
      resource: (msg) => { if (Object.hasOwn(this.topology().resources, msg.resource)) this.health.record(name, msg); },
    };
  }

  /** Process `name` exited: what it said about its resources no longer holds. */
  exited(name: string): void {
    this.health.forget(name);
  }
}
