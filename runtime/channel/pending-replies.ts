import { ActorrtError } from '../errors.js';
import { withDeadline } from '../deadline.js';
import { Deadlines, type Deadline } from '../request-deadlines.js';
import { BadFrameError, type ReceivedReply } from './wire.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: ActorrtError): void;
  deadline: Deadline;
}

/**
 * The requests one side of a link sent and the other has not answered, by id: what a Unix-socket
 * channel (channel.ts) and a thread's port (runtime/pool-thread/frame-link.ts) both keep. Each has
 * its deadline (ACTORRT_E_TIMEOUT past it; a reply after that is dropped), a checked reply settles
 * its request, and `failAll` ends them all when the other side is gone.
 */
export class PendingReplies {
  private readonly pending = new Map<number, Pending>();
  private readonly deadlines = new Deadlines();
  private lastId = 0;
  /** Requests the other side replied to with a value in time (not an error, not a timeout) since the link opened. */
  private done = 0;

  /** `changed(delta, size)` hears every change of the requests in flight (a thread pool integrates its load from it). */
  constructor(private readonly changed?: (delta: number, size: number) => void) {}
  private idle: (() => void) | undefined;

  /** Requests sent and not yet answered. */
  get size(): number {
    return this.pending.size;
  }

  /** Requests replied to with a value in time since the link opened (a thread pool's throughput). */
  get replied(): number {
    return this.done;
  }

  /** Why a request for `pool` with `timeout` cannot be sent (checked here, where ctx.ask's caller learns why; the peer would refuse the frame). */
  static badTimeout(pool: string, timeout: number): ActorrtError | undefined {
    return timeout > 0 && timeout !== Infinity ? undefined
      : new ActorrtError('ACTORRT_E_BAD_ARGUMENT', `a timeout of ${timeout} ms for pool "${pool}" is not a positive number of milliseconds`);
  }

  /** The id of the next request. */
  nextId(): number {
    return ++this.lastId;
  }

  /** Wait for the reply to request `id` for `pool`, for `timeout` ms. */
  wait(id: number, pool: string, timeout: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const deadline = this.deadlines.add(timeout, () => {
        this.forget(id);
        reject(new ActorrtError('ACTORRT_E_TIMEOUT', `pool "${pool}" did not reply within ${timeout} ms`));
      });
      this.pending.set(id, { resolve, reject, deadline });
      this.changed?.(1, this.pending.size);
    });
  }

  /** Answer the request a checked reply (or a malformed one with a readable id) is about; one timed out already is dropped. */
  settle(id: number, reply: ReceivedReply | BadFrameError): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.forget(id);
    this.deadlines.cancel(pending.deadline);
    if (reply instanceof BadFrameError) pending.reject(reply);
    else if (reply.ok) {
      this.done++;
      pending.resolve(reply.value);
    }
    else pending.reject(reply.error);
  }

  /** Fail every request in flight with `err` (the other side is gone; never retried: it may have run them). */
  failAll(err: ActorrtError): void {
    const failed = this.pending.size;
    for (const [id, p] of this.pending) {
      this.deadlines.cancel(p.deadline);
      this.pending.delete(id);
      p.reject(err);
    }
    if (failed > 0) this.changed?.(-failed, 0);
    this.idle?.();
  }

  /** Resolves once no request is in flight, or after `timeout` ms. */
  async whenIdle(timeout: number): Promise<void> {
    if (this.pending.size > 0) await withDeadline(new Promise<void>((resolve) => { this.idle = resolve; }), timeout);
  }

  private forget(id: number): void {
    this.pending.delete(id);
    this.changed?.(-1, this.pending.size);
    if (this.pending.size === 0) this.idle?.();
  }
}
