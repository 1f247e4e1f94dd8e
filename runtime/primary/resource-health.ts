import type { Config } from '../../config/types.js';
import type { ResourceMessage } from '../protocol/messages.js';
import { describeAddress } from '../resources/address.js';

/** One resource as `actorrt status` shows it. */
export interface ResourceStatus {
  readonly name: string;
  readonly type: string;
  /** Redacted: no password, no query. */
  readonly address: string;
  /** unavailable: some process cannot reach it; degraded: an http resource with origins taken out. */
  readonly state: 'available' | 'degraded' | 'unavailable';
  /** The processes that report it unavailable now (`worker 0`, `<pool> process 1`). */
  readonly unavailableIn: readonly string[];
  /** When the oldest of those reports began (ISO time). */
  readonly since?: string;
  readonly error?: string;
  readonly originsOut?: readonly string[];
}

interface Report {
  readonly available: boolean;
  readonly since: number;
  readonly error: string | undefined;
  readonly originsOut: readonly string[];
}

/**
 * What the primary knows of each resource's health: the processes that use a resource report when
 * it becomes unreachable and when it is back (they see it first, on real requests). A process that
 * exits takes its reports with it: its replacement opens the resource afresh or fails start-up.
 */
export class ResourceHealth {
  /** resource -> process -> its latest report that is not "all fine" */
  private readonly reports = new Map<string, Map<string, Report>>();

  /** Record what `process` said about one of its resources. */
  record(process: string, msg: ResourceMessage): void {
    let byProcess = this.reports.get(msg.resource);
    if (byProcess === undefined) {
      byProcess = new Map();
      this.reports.set(msg.resource, byProcess);
    }
    const prior = byProcess.get(process);
    // Reports about reachability say nothing of origins; keep what the health check said last.
    const originsOut = msg.originsOut ?? prior?.originsOut ?? [];
    if (msg.available && originsOut.length === 0) {
      byProcess.delete(process);
      return;
    }
    const since = prior !== undefined && prior.available === msg.available ? prior.since : Date.now();
    byProcess.set(process, { available: msg.available, since, error: msg.error, originsOut });
  }

  /** `process` exited: forget what it reported. */
  forget(process: string): void {
    for (const [resource, byProcess] of this.reports) {
      byProcess.delete(process);
      if (byProcess.size === 0) this.reports.delete(resource);
    }
  }

  /** Every declared resource, in declaration order. */
  status(config: Config): ResourceStatus[] {
    return Object.entries(config.resources).map(([name, resource]) => {
      const reports = [...(this.reports.get(name) ?? new Map<string, Report>()).entries()];
      const down = reports.filter(([, r]) => !r.available);
      const originsOut = [...new Set(reports.flatMap(([, r]) => r.originsOut))];
      const state = down.length > 0 ? 'unavailable' : originsOut.length > 0 ? 'degraded' : 'available';
      const oldest = (down.length > 0 ? down : reports).map(([, r]) => r).sort((a, b) => a.since - b.since)[0];
      return {
        name,
        type: resource.type,
        address: describeAddress(resource),
        state,
        unavailableIn: down.map(([process]) => process),
        ...(oldest === undefined ? {} : { since: new Date(oldest.since).toISOString() }),
        ...(oldest?.error === undefined ? {} : { error: oldest.error }),
        ...(originsOut.length === 0 ? {} : { originsOut }),
      };
    });
  }
}
