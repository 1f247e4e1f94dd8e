import type { ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { withDeadline } from '../deadline.js';
import { ActorrtError } from '../errors.js';
import type { Pool } from './pool.js';

/** What a pool routes to (an actor of an inline pool, a channel to a pool process): its load. */
export interface Member {
  /** Requests sent to it and not yet answered (queued + running). */
  readonly inflight: number;
}

/** A POOL_DOWN refusal: what a pool answers when no member can take a request. */
export function poolDown(message: string): ActorrtError {
  return new ActorrtError('ACTORRT_E_POOL_DOWN', message);
}

/**
 * The member of `members` that `takes` new requests with the fewest in flight, or undefined if
 * none does. The scan starts at `start`, so members with equal load take turns; the first idle one
 * wins at once (the earliest least-loaded member is the one a full scan would pick anyway).
 */
export function leastLoaded<M extends Member>(members: readonly M[], start: number, takes: (member: M) => boolean): M | undefined {
  const n = members.length;
  let best: M | undefined;
  for (let i = 0; i < n; i++) {
    const member = members[(start + i) % n] as M;
    if (!takes(member)) continue;
    if (best === undefined || member.inflight < best.inflight) {
      best = member;
      if (member.inflight === 0) break;
    }
  }
  return best;
}

/**
 * What InlinePool (actors in this process) and RemotePool (channels to pool processes) share, as
 * undici's PoolBase does for its Pool and BalancedPool and piscina's worker_pool/base.ts for its
 * workers: the members and their rotation, least-loaded admission (POOL_DOWN when no member takes
 * requests, MAILBOX_FULL when the least loaded is at `capacity`), being down with a reason (every
 * dispatch then answers ACTORRT_E_POOL_DOWN), depth, and stop's drain.
 *
 * The hot path allocates nothing: `admit()` returns the member itself, or an error only when the
 * request is refused (InlinePool micro benchmark, before -> after the extraction: 296 -> 297-300 ns
 * CPU per dispatch, the same 90 minor GCs per 1M dispatches). A subclass says what "takes requests"
 * means, how many requests one member may hold, and how its members close.
 */
export abstract class PoolBase<M extends Member> implements Pool {
  readonly name: string;
  /** The members in rotation order; depth counts them all (retiring ones too, until they leave). */
  protected members: M[] = [];
  /** Requests one member may hold before the pool answers MAILBOX_FULL. */
  protected capacity = 0;
  /** Why every dispatch is refused, when the pool is down or stopping. */
  private down: ActorrtError | undefined;
  /** Where the next least-loaded scan starts. */
  private cursor = 0;
  /** Set while stop() waits for the depth to reach 0. */
  private drained: (() => void) | undefined;
  /**
   * Time integrals of the depth and of the busy members, in request-seconds and actor-seconds,
   * kept while `meter(true)` (the host turns it on for autoscaled pools only): the autoscaler
   * differences two readings into averages over its interval. Integrated at every change, on the
   * clock, rather than sampled by a timer: a synchronous actor (CPU work in a pool process)
   * receives, runs and answers between two timer phases, so a timer never saw it busy (found by a
   * fresh-user run: utilization 0 on a pool process at 110 % CPU).
   */
  private metering = false;
  private depthNow = 0;
  private busyNow = 0;
  private changedAt = 0;
  private inflightSeconds = 0;
  private busySeconds = 0;

  constructor(public config: PoolConfig, private readonly takes: (member: M) => boolean) {
    this.name = config.name;
    this.configure(config);
  }

  abstract dispatch(req: ActorRequest, timeout: number): Promise<unknown>;
  /** Close the members once stop() refuses new requests (bounded by `timeout`). */
  protected abstract closeMembers(timeout: number): Promise<void>;
  /** How many requests one member may hold under `config`. */
  protected abstract capacityOf(config: PoolConfig): number;
  /** The refusal when no member takes requests. */
  protected abstract unreachable(): ActorrtError;
  /** The refusal when the least-loaded member holds `capacity` requests. */
  protected abstract full(): ActorrtError;

  /** Whether the pool takes requests (false once it is down or stopping). */
  get available(): boolean {
    return this.down === undefined;
  }

  /** Requests queued or running across the members. */
  get depth(): number {
    let n = 0;
    for (const m of this.members) n += m.inflight;
    return n;
  }

  /** Members with a request in hand: for actors, which take one message at a time, those running one now (the rest of the depth waits in mailboxes). */
  get busy(): number {
    let n = 0;
    for (const m of this.members) if (m.inflight > 0) n++;
    return n;
  }

  /** Keep the load integrals (on), or stop (off: the hot path then pays one boolean test). */
  meter(on: boolean): void {
    if (on && !this.metering) {
      this.changedAt = performance.now();
      this.depthNow = this.depth;
      this.busyNow = this.busy;
    }
    this.metering = on;
  }

  /** What the integrals hold now: request-seconds in flight and actor-seconds busy (0 while never metered). */
  get metered(): { readonly inflightSeconds: number; readonly busySeconds: number } {
    if (this.metering) {
      this.loadChanged(0, 0);
      // Counted again from the members: a path that moved requests without saying so (an actor
      // replaced while hung) drifts for one interval at most.
      this.depthNow = this.depth;
      this.busyNow = this.busy;
    }
    return { inflightSeconds: this.inflightSeconds, busySeconds: this.busySeconds };
  }

  /** The depth moved by `depth` and the busy members by `busy`: call on every change while metering. */
  protected loadChanged(depth: number, busy: number): void {
    if (!this.metering) return;
    const now = performance.now();
    const dt = (now - this.changedAt) / 1000;
    this.inflightSeconds += this.depthNow * dt;
    this.busySeconds += this.busyNow * dt;
    this.changedAt = now;
    this.depthNow += depth;
    this.busyNow += busy;
  }

  /** Apply new settings; the capacity per member applies to the next request. */
  protected configure(config: PoolConfig): void {
    this.config = config;
    this.capacity = this.capacityOf(config);
  }

  /** Answer every request with POOL_DOWN ("pool "x" is down: `reason`") until markUp(). */
  markDown(reason: string): void {
    this.downWith(`pool "${this.name}" is down: ${reason}`);
  }

  /** Take requests again. */
  markUp(): void {
    this.down = undefined;
  }

  /** Refuse new requests, let the members drain and close them (bounded by `timeout`). */
  async stop(timeout: number): Promise<void> {
    this.down ??= poolDown(`pool "${this.name}" is stopping`);
    await this.closeMembers(timeout);
  }

  /** Answer every request with POOL_DOWN `message` from now on (until markUp()); returns that error. */
  protected downWith(message: string): ActorrtError {
    this.down = poolDown(message);
    return this.down;
  }

  /** The member a request goes to, or why it is refused (down, no member takes requests, the least loaded is full). */
  protected admit(): M | ActorrtError {
    if (this.down !== undefined) return this.down;
    const member = this.pick();
    if (member === undefined) return this.unreachable();
    return member.inflight >= this.capacity ? this.full() : member;
  }

  /** The least-loaded member taking requests; the rotation moves one step per call. */
  protected pick(): M | undefined {
    const n = this.members.length;
    const best = leastLoaded(this.members, this.cursor, this.takes);
    this.cursor = n === 0 ? 0 : (this.cursor + 1) % n;
    return best;
  }

  /** Take `member` out of the pool (it closed); false if it had left already. */
  protected leave(member: M): boolean {
    const at = this.members.indexOf(member);
    if (at === -1) return false;
    this.members.splice(at, 1);
    return true;
  }

  /** Start the next scan at the first member (the member list was replaced). */
  protected restartRotation(): void {
    this.cursor = 0;
  }

  /** A request left a member: call it on every completion so a stop() waiting for depth 0 resumes. */
  protected requestDone(): void {
    if (this.drained !== undefined && this.depth === 0) this.drained();
  }

  /** Wait until the depth is 0 (bounded by `timeout`); needs requestDone() on every completion. */
  protected async whenDrained(timeout: number): Promise<void> {
    if (this.depth > 0) await withDeadline(new Promise<void>((r) => { this.drained = r; }), timeout);
  }
}
