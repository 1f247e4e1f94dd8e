import type { Clock } from '../runtime/clock.js';
import { parseDuration } from '../config/units.js';

/**
 * A clock the test moves: it starts at the real time and from then on only moves when told
 * (`advance`, `set`). Given to `startTopology({ clock })` it is the time of every cache (stored
 * replies' ages and freshness, memory stores' TTLs, `ctx.caches` entries); timeouts stay on
 * real time.
 *
 *   const clock = new TestClock();
 *   const app = await startTopology('actorrt.yml', { clock });
 *   clock.advance('5m'); // every entry stored 5 minutes ago is now as old as that
 */
export class TestClock implements Clock {
  private current: number;

  /** `start`: milliseconds since the epoch (default: now). */
  constructor(start: number = Date.now()) {
    this.current = epochMs('new TestClock', start);
  }

  /** Milliseconds since the epoch, as Date.now(). */
  now(): number {
    return this.current;
  }

  /** Move forward by `by`: milliseconds, or a duration string (`30s`, `5m`, `1h`). Throws for a negative or unreadable one. */
  advance(by: number | string): number {
    const ms = typeof by === 'number' ? by : parseDuration(by);
    if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`TestClock.advance(${typeof by === 'string' ? JSON.stringify(by) : String(by)}): give milliseconds >= 0 or a duration such as 250ms, 30s, 5m`);
    }
    this.current += ms;
    return this.current;
  }

  /** Jump to `ms` since the epoch; a clock that goes back makes stored replies younger, as a real clock's step back would. */
  set(ms: number): void {
    this.current = epochMs('TestClock.set', ms);
  }
}

function epochMs(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${what}(${String(value)}): give milliseconds since the epoch (a finite number >= 0), as Date.now() returns`);
  }
  return value;
}
