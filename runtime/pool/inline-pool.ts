import { setTimeout as sleep } from 'node:timers/promises';
import { dispatch as nactDispatch, spawn, stop as nactStop, type Ref } from 'nact';
import type { Actor, ActorContext, ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SupervisionEvent } from '../supervision/counters.js';
import { decide, prune } from '../supervision/policy.js';
import { withDeadline } from '../deadline.js';
import { Deadlines, type Deadline } from '../request-deadlines.js';
import { PoolBase, poolDown } from './pool-base.js';
import { tracer, withTrace } from '../trace/tracing.js';

/**
 * A message in an actor's mailbox: the request and its caller's promise, answered by release() /
 * fail(), not by a closure and an outcome object per message (micro benchmark, 4 actors, 64 in
 * flight: 90 -> 82-86 minor GCs per 1M dispatches, ~321 -> ~315 ns CPU per dispatch).
 */
interface Envelope {
  readonly req: ActorRequest;
  /** The actor whose mailbox holds it (moves when a hung actor is replaced). */
  cell: Cell;
  /** True once the caller has its answer (a timeout counts); the actor then skips it. */
  settled: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: ActorrtError) => void;
  deadline: Deadline | undefined;
}

/**
 * `fn` called through a Proxy, which V8 never inlines into its caller. V8 (node 20) counts the time
 * of an inlined function as its caller's in CPU profiles: under load TurboFan inlined a CPU-heavy
 * actor's receive (and what it calls) into the dispatch below, and `actorrt profile` showed 88% of
 * the worker's time at inline-pool.js, the actor's functions nowhere. Through the Proxy the time is
 * the actor's own. Measured: a call costs 9.9 ns this way, 0.7 ns inlined, next to ~15 us of CPU
 * per request.
 */
function outOfLine<F extends (...args: never[]) => unknown>(fn: F): F {
  return new Proxy(fn, {});
}

/** The one nact message an actor receives: "drain your mailbox". */
const WAKE = Symbol('wake');
/** Why a pool whose actors were all stopped by supervision answers POOL_DOWN. */
const EVERY_ACTOR_STOPPED = 'every actor of the pool is stopped';
/** Least time past a message's deadline before an actor still busy with it is replaced. */
const HUNG_GRACE_MS = 5000;
/** Messages an actor handles per wake before yielding the event loop to other work. */
const BATCH = 64;
/** InlinePools created in this process (each one's nact names carry its serial). */
let pools = 0;

/** One actor of the pool: its nact reference, its private state and its load. */
class Cell {
  ref: Ref<typeof WAKE> | undefined;
  state: unknown;
  /** Resolves once init() has built `state`; every message waits for it. */
  ready = Promise.resolve();
  /** This actor's mailbox, oldest first; bounded by mailbox.capacity. */
  readonly queue: Envelope[] = [];
  /** The message being handled now (so a crash knows which request failed). */
  current: Envelope | undefined;
  /** A wake is queued in nact or running. */
  awake = false;
  /** Messages dispatched to this actor and not yet finished (queued + running). */
  inflight = 0;
  /** Stopped by supervision after a failure (strategy stop / escalate): takes no messages. */
  stopped = false;
  /** Leaving the pool because it shrank: takes no new messages, finishes its mailbox, then stops. */
  retiring = false;
  /** Called when a retiring actor's mailbox is empty. */
  idle: (() => void) | undefined;
  readonly restarts: number[] = [];

  constructor(readonly index: number, readonly ctx: ActorContext<unknown>) {}
}

export interface InlinePoolDeps {
  /** nact parent (the worker's actor system). */
  readonly parent: Ref<never>;
  readonly log: Logger;
  /**
   * The context actors of this pool see (resources, ask, logger), per actor index; `current` is
   * the request that actor is handling now (its ask() and log lines belong to it).
   */
  contextFor(index: number, current: () => ActorRequest | undefined): ActorContext<unknown>;
  /** What to answer when a thrown error is a bound resource's failure (503 unreachable, 504 statement timeout), not an actor crash. */
  resourceFailure(err: unknown): ActorrtError | undefined;
  /** Supervision acted on `count` actors of this pool (for counters; the log line is written here). */
  onSupervision(event: SupervisionEvent, count: number): void;
  /** Called when the pool's failures exceed what its supervision may handle locally. */
  onEscalate(pool: string, reason: string): void;
}

/**
 * A pool of `size` actors inside this process, on nact, grown and shrunk live one actor at a
 * time (addActor / retireActor, as piscina adds and removes workers). Requests go to the least-loaded actor;
 * each actor's mailbox is bounded by `mailbox.capacity` (full everywhere -> 503, never an
 * unbounded queue). An actor that throws fails only that request (500) and is restarted per the
 * pool's supervision; a reply later than the timeout is dropped (504 was already sent), and a
 * message that timed out before the actor reached it is skipped.
 *
 * Each actor handles one message at a time, in order. The mailbox is ours rather than nact's:
 * nact runs every message in its own setImmediate, so an actor would handle at most one message
 * per event-loop turn (measured: 0.78x of a bare cluster with 4 actors per worker). One nact
 * message instead wakes the actor to drain its queue, yielding every BATCH messages.
 */
export class InlinePool extends PoolBase<Cell> {
  /** Down because supervision stopped every actor (not an escalation, not a stop). */
  private allStopped = false;
  /** Index of the next actor added (indexes are never reused, so nact names stay unique). */
  private nextIndex = 0;
  /** Which pool of this process this is: a pool replaced by one of the same name (new module) drains beside it, and nact refuses a second child named alike. */
  private readonly serial = ++pools;
  private readonly deadlines = new Deadlines();

  constructor(config: PoolConfig, private readonly actor: Actor<unknown, unknown>, private readonly deps: InlinePoolDeps) {
    super(config, serving);
  }

  /** Add `size` actors and wait for each init(); rejects (naming the pool) if an init throws. */
  async start(): Promise<void> {
    await this.resize(this.config.size);
  }

  /**
   * Apply new settings (timeout, mailbox, supervision, drainTimeout) at once and grow or shrink to
   * the new size: added actors receive only once their init() is done; retired ones finish their
   * mailbox first (bounded by drainTimeout).
   */
  async reconfigure(config: PoolConfig): Promise<void> {
    this.configure(config);
    await this.resize(config.size);
    // Down only because supervision stopped every actor: the actors a reload adds serve again.
    if (this.allStopped && this.actors > 0) {
      this.allStopped = false;
      this.markUp();
    }
  }

  /** Grow or shrink to `size` actors; resolves once added ones are ready and retired ones out of the rotation (stop waits for their mailbox). */
  private async resize(size: number): Promise<void> {
    const staying = this.members.filter((c) => !c.retiring);
    if (staying.length < size) {
      await Promise.all(Array.from({ length: size - staying.length }, () => this.addActor()));
      return;
    }
    // Actors stopped by supervision go first, then the least loaded (they drain soonest).
    const victims = staying.sort((a, b) => Number(b.stopped) - Number(a.stopped) || a.inflight - b.inflight).slice(0, staying.length - size);
    for (const c of victims) {
      this.retireActor(c).catch((err: unknown) => this.deps.log.warn({ pool: this.name, actor: c.index, err }, 'retiring an actor failed'));
    }
  }

  /** Actors taking new messages. */
  /**
   * Requests answered with the actor's reply in time, since the pool started: the throughput the
   * autoscaler checks a growth against. Timeouts and failures are not counted: a pool in front of
   * a hung database "completes" every request as a 504, and counting those made growing look like
   * it paid (found by a hostile run: 1 -> 64 actors, every request 504).
   */
  private answered = 0;

  get completed(): number {
    return this.answered;
  }

  get actors(): number {
    let n = 0;
    for (const c of this.members) if (serving(c)) n++;
    return n;
  }

  /** Spawn one actor and run its init(); it joins the pool (and gets messages) only once ready. */
  private async addActor(): Promise<Cell> {
    const index = this.nextIndex++;
    const cell: Cell = new Cell(index, this.deps.contextFor(index, () => cell.current?.req));
    cell.ref = this.spawnCell(cell);
    cell.ready = this.init(cell);
    try {
      await cell.ready;
    } catch (err) {
      nactStop(cell.ref);
      throw new ActorrtError('ACTORRT_E_ACTOR_INIT', `pool "${this.name}": init() failed: ${(err as Error).message}`, { cause: err });
    }
    this.members.push(cell);
    return cell;
  }

  /** Take an actor out: no new messages; what it has queued is handled (up to drainTimeout), then it stops. */
  private async retireActor(cell: Cell): Promise<void> {
    cell.retiring = true;
    if (cell.inflight > 0) await withDeadline(new Promise<void>((r) => { cell.idle = r; }), this.config.drainTimeout);
    await this.stopCell(cell);
    this.leave(cell);
  }

  /** Send a request to the least-loaded actor; resolves to what receive() returned. */
  dispatch(req: ActorRequest, timeout: number): Promise<unknown> {
    const cell = this.admit();
    if (cell instanceof ActorrtError) return Promise.reject(cell);
    cell.inflight++;
    this.loadChanged(1, cell.inflight === 1 ? 1 : 0);
    return new Promise((resolve, reject) => {
      const envelope: Envelope = { req, cell, settled: false, resolve, reject, deadline: undefined };
      envelope.deadline = this.deadlines.add(timeout, () => this.expire(envelope, timeout));
      cell.queue.push(envelope);
      this.wake(cell);
    });
  }

  /** Answer the caller with `error` (unless it was answered already). */
  private fail(envelope: Envelope, error: ActorrtError): void {
    if (this.release(envelope)) envelope.reject(error);
  }

  /** The actor is done with `envelope` (handled, skipped or failed): free its slot; true if its caller still waits. */
  private release(envelope: Envelope): boolean {
    const at = envelope.cell;
    at.inflight--;
    this.loadChanged(-1, at.inflight === 0 ? -1 : 0);
    if (at.inflight === 0) at.idle?.();
    this.requestDone();
    if (envelope.settled) return false; // already answered 504; the late reply is dropped
    envelope.settled = true;
    this.deadlines.cancel(envelope.deadline as Deadline);
    return true;
  }

  /**
   * The caller waited `timeout` ms: answer TIMEOUT. An actor still on it gets as long again (5 s at
   * least, so a merely slow actor keeps its state), then is replaced.
   */
  private expire(envelope: Envelope, timeout: number): void {
    envelope.settled = true;
    envelope.reject(new ActorrtError('ACTORRT_E_TIMEOUT', `pool "${this.name}" did not reply within ${timeout} ms`));
    const grace = Math.max(timeout, HUNG_GRACE_MS);
    if (envelope.cell.current === envelope) setTimeout(() => this.abandon(envelope.cell, envelope, timeout + grace), grace).unref();
  }

  /** stop(): let mailboxes drain (bounded by `timeout`), then stop every actor. */
  protected async closeMembers(timeout: number): Promise<void> {
    await this.whenDrained(timeout);
    await Promise.all(this.members.map((cell) => this.stopCell(cell)));
  }

  protected capacityOf(config: PoolConfig): number {
    return config.mailbox.capacity;
  }

  protected unreachable(): ActorrtError {
    return poolDown(EVERY_ACTOR_STOPPED);
  }

  protected full(): ActorrtError {
    return new ActorrtError('ACTORRT_E_MAILBOX_FULL', `pool "${this.name}" is at capacity (${this.capacity} messages per actor)`);
  }

  private wake(cell: Cell): void {
    if (cell.awake || cell.stopped || cell.queue.length === 0) return;
    cell.awake = true;
    nactDispatch(cell.ref as Ref<typeof WAKE>, WAKE);
  }

  private spawnCell(cell: Cell): Ref<typeof WAKE> {
    const receive = outOfLine(this.actor.receive);
    return spawn(this.deps.parent, async () => {
      await cell.ready;
      for (let handled = 0; handled < BATCH && !cell.stopped; handled++) {
        const envelope = cell.queue.shift();
        if (envelope === undefined) break;
        if (envelope.settled) { this.release(envelope); continue; } // timed out while queued
        cell.current = envelope;
        let value: unknown;
        try {
          // With an OpenTelemetry SDK, spans the actor's libraries start are children of the request's.
          value = await (tracer() === undefined ? receive(cell.state, envelope.req, cell.ctx) : withTrace(envelope.req.trace, () => receive(cell.state, envelope.req, cell.ctx)));
        } catch (err) {
          // A database that went away or a statement past its timeout is not this actor's fault:
          // answer 503 / 504, keep its state, and keep restarts for real crashes (else a DB restart
          // or a slow query storm would make supervision give the pool up).
          const failure = this.deps.resourceFailure(err);
          if (failure === undefined) throw err;
          cell.current = undefined;
          this.fail(envelope, failure);
          continue;
        }
        cell.current = undefined;
        if (this.release(envelope)) {
          this.answered++;
          envelope.resolve(value);
        }
      }
      cell.awake = false;
      this.wake(cell); // more arrived, or the batch limit was reached
      return undefined;
    }, `${this.name}-${this.serial}.${cell.index}`, {
      onCrash: async (_msg, error, ctx) => {
        await this.onCrash(cell, error);
        return cell.stopped ? ctx.stop : ctx.resume;
      },
    });
  }

  private async init(cell: Cell): Promise<void> {
    cell.state = this.actor.init === undefined ? undefined : await this.actor.init(cell.ctx);
  }

  /**
   * An actor still running one message long past its timeout (a promise that never settles, a
   * lock never released) would hold its mailbox forever: it leaves the pool, a fresh actor takes
   * its place and its queued messages, and whatever the old receive() does later is dropped.
   * Its state is not handed to stop(): receive() may still be using it.
   */
  private abandon(cell: Cell, envelope: Envelope, after: number): void {
    if (cell.current !== envelope || cell.stopped || !this.leave(cell)) return;
    cell.stopped = true;
    if (cell.ref !== undefined) nactStop(cell.ref);
    const queued = cell.queue.splice(0);
    this.deps.log.warn({ pool: this.name, actor: cell.index, requestId: envelope.req.requestId, traceId: envelope.req.trace.traceId, after, queued: queued.length, event: 'actor-replaced' },
      'actor still busy with one request long past its timeout; replaced by a fresh actor');
    this.deps.onSupervision('actor-restart', 1);
    this.addActor().then((fresh) => {
      for (const e of queued) {
        e.cell.inflight--;
        e.cell = fresh;
        fresh.inflight++;
        fresh.queue.push(e);
      }
      this.wake(fresh);
    }, (err: unknown) => {
      const error = poolDown(`pool "${this.name}": the actor replacing a hung one could not start: ${(err as Error).message}`);
      for (const e of queued) this.fail(e, error);
    });
  }

  private async onCrash(cell: Cell, thrown: unknown): Promise<void> {
    if (!this.members.includes(cell)) return; // abandoned while hung: its late failure is nobody's concern
    const envelope = cell.current;
    cell.current = undefined;
    // Actors may throw anything (a string, undefined, a plain object): logs and causes get an Error.
    const error = thrown instanceof Error ? thrown : new Error(`the actor threw a non-Error value: ${describeValue(thrown)}`);
    const requestId = envelope?.req.requestId;
    const traceId = envelope?.req.trace.traceId;
    if (envelope !== undefined) this.fail(envelope, new ActorrtError('ACTORRT_E_ACTOR_FAILED', `the actor failed while handling request ${requestId ?? ''}`.trim(), { cause: error }));

    const now = Date.now();
    const { supervision } = this.config;
    prune(cell.restarts, now, supervision.within);
    const decision = decide(supervision, cell.restarts, now);
    const fields = { pool: this.name, actor: cell.index, requestId, traceId, reason: error.message, count: decision.count, action: decision.action };
    if (decision.action === 'restart-one' || decision.action === 'restart-all') {
      this.deps.log.warn({ ...fields, delay: decision.delay, err: error }, 'actor crashed; restarting');
      cell.restarts.push(now);
      if (decision.delay > 0) await sleep(decision.delay);
      const targets = decision.action === 'restart-all' ? this.members.filter(serving) : [cell];
      this.deps.onSupervision('actor-restart', targets.length);
      await Promise.all(targets.map((c) => this.restart(c)));
      cell.awake = false;
      this.wake(cell); // queued messages go on after the restart
      return;
    }
    // stop / escalate: this actor takes no more messages; fail what it had queued.
    cell.stopped = true;
    this.failQueued(cell, poolDown(`actor ${cell.index} of pool "${this.name}" stopped after a failure`));
    if (decision.action === 'stop') {
      this.deps.log.error({ ...fields, err: error }, 'actor crashed; stopped per supervision');
      this.deps.onSupervision('actor-stop', 1);
      if (!this.members.some(serving)) {
        this.allStopped = true;
        this.downWith(EVERY_ACTOR_STOPPED);
      }
      return;
    }
    if (decision.action === 'escalate') {
      this.deps.log.error({ ...fields, err: error, escalation: decision.reason }, 'actor crashed; escalating');
      this.deps.onSupervision('escalation', 1);
      this.downWith(`pool "${this.name}" escalated: ${decision.reason}`);
      this.deps.onEscalate(this.name, decision.reason);
    }
  }

  private failQueued(cell: Cell, error: ActorrtError): void {
    for (const queued of cell.queue.splice(0)) this.fail(queued, error);
  }

  private async restart(cell: Cell): Promise<void> {
    await this.stopState(cell, 'actor stop() threw during restart');
    cell.ready = this.init(cell);
    await cell.ready.catch((err: unknown) => {
      // A failing init leaves the actor without state; its next message fails and counts as a crash.
      this.deps.log.error({ pool: this.name, actor: cell.index, err }, 'actor init() failed during restart');
    });
  }

  private async stopCell(cell: Cell): Promise<void> {
    if (cell.ref !== undefined) nactStop(cell.ref);
    this.failQueued(cell, poolDown(`pool "${this.name}" stopped before handling this request`));
    if (cell.stopped) return;
    cell.stopped = true;
    await this.stopState(cell, 'actor stop() threw');
  }

  /** Hand the actor's state to its stop(); a throw is logged (`what`), never passed on. */
  private async stopState(cell: Cell, what: string): Promise<void> {
    try {
      await this.actor.stop?.(cell.state, cell.ctx);
    } catch (err) {
      this.deps.log.warn({ pool: this.name, actor: cell.index, err }, what);
    }
  }
}

/** An actor that takes new messages: not stopped by supervision, not leaving the pool. */
function serving(cell: Cell): boolean {
  return !cell.stopped && !cell.retiring;
}

/** A thrown non-Error as a log line can show it. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value);
  try {
    return JSON.stringify(value)?.slice(0, 200) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
