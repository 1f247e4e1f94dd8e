import { SupervisionCounters } from '../supervision/counters.js';
import type { LinkEvents } from './child-link.js';
import { ResourceHealth } from './resource-health.js';

/** What running processes report to the primary after start-up: supervision counts and resource health. */
export class ProcessReports {
  readonly counters = new SupervisionCounters();
  readonly health = new ResourceHealth();

  /** The handshake handlers that record what process `name` (`worker 0`, `<pool> process 1`) reports. */
  from(name: string): Pick<LinkEvents, 'supervised' | 'resource'> {
    return {
      supervised: (msg) => this.counters.record(msg.pool, msg.event, msg.count),
      resource: (msg) => this.health.record(name, msg),
    };
  }

  /** Process `name` exited: what it said about its resources no longer holds. */
  exited(name: string): void {
    this.health.forget(name);
  }
}
