import { SUPERVISION_EVENTS, type SupervisionEvent } from '../protocol/shapes.js';

export { SUPERVISION_EVENTS, type SupervisionEvent };

export type SupervisionCounts = Readonly<Record<SupervisionEvent, number>>;

/**
 * Totals since start, per pool, of every restart, stop, escalation and give-up at every level
 * (actors in any process, pool processes). The restart window in the policy forgets; these do not.
 */
export class SupervisionCounters {
  private readonly counts = new Map<string, Record<SupervisionEvent, number>>();

  /** Count `n` occurrences of `event` in `pool`. */
  record(pool: string, event: SupervisionEvent, n = 1): void {
    let counts = this.counts.get(pool);
    if (counts === undefined) {
      counts = { 'actor-restart': 0, 'actor-stop': 0, escalation: 0, 'process-restart': 0, 'give-up': 0 };
      this.counts.set(pool, counts);
    }
    counts[event] += n;
  }

  /** The totals of one pool (zeros when nothing happened). */
  of(pool: string): SupervisionCounts {
    return { ...(this.counts.get(pool) ?? { 'actor-restart': 0, 'actor-stop': 0, escalation: 0, 'process-restart': 0, 'give-up': 0 }) };
  }
}
