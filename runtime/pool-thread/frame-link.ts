import type { ActorRequest, RequestTrace } from '../../actors/index.js';
import { serveCheckedRequest, type PoolLookup } from '../channel/endpoint.js';
import { decodeFrame } from '../channel/frames.js';
import { BadFrameError, decodeReplyFrame, decodeRequestFrame, encodeRequestFrame } from '../channel/wire.js';
import { withDeadline } from '../deadline.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { Deadlines, type Deadline } from '../request-deadlines.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: ActorrtError): void;
  deadline: Deadline;
}

/**
 * A frame as it crosses a MessagePort: the payload (without its 4-byte length) in an ArrayBuffer
 * of its own, transferred, not copied. Posting the Buffer itself would structured-clone the whole
 * 8 KiB slab a small Buffer lives in (Buffer.allocUnsafe pools them), per message.
 */
export function toPort(frame: Buffer): ArrayBuffer {
  return frame.buffer.slice(frame.byteOffset + 4, frame.byteOffset + frame.byteLength) as ArrayBuffer;
}

/**
 * Both ends of a MessagePort between a front worker and one of its pool threads, for requests:
 * requests go out with `request` and come back through `receive`; requests the other side sends
 * (the front's to the thread's actors, an actor's ctx.ask to the front) are served from `pools`,
 * exactly as a pool process's socket endpoint serves them (runtime/channel/endpoint.ts).
 */
export class FrameLink {
  private readonly pending = new Map<number, Pending>();
  private readonly deadlines = new Deadlines();
  private nextId = 1;
  private idle: (() => void) | undefined;

  constructor(private readonly post: (frame: ArrayBuffer) => void, private readonly pools: PoolLookup, private readonly log: Logger) {}

  /** Requests sent and not yet answered. */
  get inflight(): number {
    return this.pending.size;
  }

  /** Send `req` to `pool` on the other side; rejects with a coded error on failure or timeout. */
  request(pool: string, req: ActorRequest, timeout: number, via: RequestTrace = req.trace): Promise<unknown> {
    if (!(timeout > 0) || timeout === Infinity) {
      return Promise.reject(new ActorrtError('ACTORRT_E_BAD_ARGUMENT', `a timeout of ${timeout} ms for pool "${pool}" is not a positive number of milliseconds`));
    }
    const id = this.nextId++;
    const frame = encodeRequestFrame(id, pool, req, timeout, via);
    if (frame instanceof Error) return Promise.reject(frame);
    return new Promise((resolve, reject) => {
      const deadline = this.deadlines.add(timeout, () => {
        this.forget(id);
        reject(new ActorrtError('ACTORRT_E_TIMEOUT', `pool "${pool}" did not reply within ${timeout} ms`));
      });
      this.pending.set(id, { resolve, reject, deadline });
      this.post(toPort(frame));
    });
  }

  /**
   * A frame the other side posted: a reply settles its request, a request is served. Returns why,
   * when it names no readable request (the link can then not be trusted: the caller ends it).
   */
  receive(data: ArrayBuffer): string | undefined {
    let message: unknown;
    let binary: Buffer | undefined;
    try {
      ({ message, binary } = decodeFrame(Buffer.from(data)));
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    if (typeof message === 'object' && message !== null && (message as { t?: unknown }).t === 'req') {
      return serveCheckedRequest(decodeRequestFrame(message, binary), (frame) => this.post(toPort(frame)), this.pools, this.log);
    }
    const reply = decodeReplyFrame(message, binary);
    const { id } = reply;
    if (id === undefined) return reply instanceof BadFrameError ? reply.message : 'a reply without an id';
    const pending = this.pending.get(id);
    if (pending === undefined) return undefined; // timed out already; the late reply is dropped
    this.forget(id);
    this.deadlines.cancel(pending.deadline);
    if (reply instanceof BadFrameError) pending.reject(reply);
    else if (reply.ok) pending.resolve(reply.value);
    else pending.reject(reply.error);
    return undefined;
  }

  /** Fail every request in flight with `err` (the other side is gone). */
  failAll(err: ActorrtError): void {
    for (const [id, p] of this.pending) {
      this.deadlines.cancel(p.deadline);
      this.pending.delete(id);
      p.reject(err);
    }
    this.idle?.();
  }

  /** Resolves once no request is in flight, or after `timeout` ms. */
  async whenIdle(timeout: number): Promise<void> {
    if (this.pending.size > 0) await withDeadline(new Promise<void>((resolve) => { this.idle = resolve; }), timeout);
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.idle?.();
  }
}
