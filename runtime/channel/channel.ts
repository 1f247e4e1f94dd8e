import { connect, type Socket } from 'node:net';
import type { ActorRequest, RequestTrace } from '../../actors/index.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BatchedWriter } from './batched-writer.js';
import { FrameReader } from './frames.js';
import { BadFrameError, decodeReplyFrame, encodeRequestFrame, readFrame, type ReceivedReply } from './wire.js';
import { withDeadline } from '../deadline.js';
import { Deadlines, type Deadline } from '../request-deadlines.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: ActorrtError): void;
  deadline: Deadline;
}

const RECONNECT_MIN = 50;
const RECONNECT_MAX = 2000;

/**
 * One connection to another process's endpoint, multiplexing requests by id. When the peer goes
 * away, every request in flight on it fails with ACTORRT_E_ACTOR_CRASHED (never a hang, never a
 * retry: the request may have had effects), and the channel reconnects with backoff. Replies are
 * checked (decodeReplyFrame): a malformed one fails its request with ACTORRT_E_BAD_FRAME, and one
 * that names no readable request closes the connection the same way a dying peer does.
 */
export class Channel {
  private socket: Socket | undefined;
  private writer: BatchedWriter | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private delay = RECONNECT_MIN;
  private retry: NodeJS.Timeout | undefined;
  private idle: (() => void) | undefined;
  private waiters: Array<() => void> = [];
  private readonly deadlines = new Deadlines();
  connected = false;

  constructor(readonly path: string, private readonly log: Logger) {
    this.open();
  }

  /** Resolves once the channel is connected (at once if it is), or closed for good. */
  whenConnected(): Promise<void> {
    if (this.connected || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Requests sent on this channel and not yet answered. */
  get inflight(): number {
    return this.pending.size;
  }

  /**
   * Send `req` to `pool` at the other end; rejects with a coded error on failure or timeout. The
   * frame carries `via`'s traceparent (the caller's span: the request's, or a dispatch span).
   */
  request(pool: string, req: ActorRequest, timeout: number, via: RequestTrace = req.trace): Promise<unknown> {
    // Checked here, where the caller (ctx.ask's timeout option) learns why; the peer would refuse the frame.
    if (!(timeout > 0) || timeout === Infinity) {
      return Promise.reject(new ActorrtError('ACTORRT_E_BAD_ARGUMENT', `a timeout of ${timeout} ms for pool "${pool}" is not a positive number of milliseconds`));
    }
    const writer = this.writer;
    if (writer === undefined || !this.connected) {
      return Promise.reject(new ActorrtError('ACTORRT_E_POOL_DOWN', `pool "${pool}" is not reachable (${this.path})`));
    }
    const id = this.nextId++;
    const frame = encodeRequestFrame(id, pool, req, timeout, via);
    if (frame instanceof Error) return Promise.reject(frame);
    return new Promise((resolve, reject) => {
      const deadline = this.deadlines.add(timeout, () => {
        this.pending.delete(id);
        if (this.pending.size === 0) this.idle?.();
        reject(new ActorrtError('ACTORRT_E_TIMEOUT', `pool "${pool}" did not reply within ${timeout} ms`));
      });
      this.pending.set(id, { resolve, reject, deadline });
      writer.write(frame);
    });
  }

  /**
   * Send nothing more; close once every request in flight is answered, or after `timeout` ms.
   * Closing is what tells the peer this side is done (a retiring process waits for it).
   */
  async closeWhenIdle(timeout: number): Promise<void> {
    if (this.pending.size > 0) await withDeadline(new Promise<void>((resolve) => { this.idle = resolve; }), timeout);
    this.close();
  }

  /** The peer is known to be back (the primary republished it): reconnect now instead of at the end of the backoff. */
  reconnectNow(): void {
    if (this.closed || this.connected) return;
    if (this.retry === undefined) {
      // Mid-connect: that attempt may have started before the peer listened; if it fails, retry at once.
      this.delay = 0;
      return;
    }
    clearTimeout(this.retry);
    this.retry = undefined;
    this.delay = RECONNECT_MIN;
    this.open();
  }

  /** Stop reconnecting and close; pending requests fail. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.socket?.destroy();
    this.wake();
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  private open(): void {
    this.retry = undefined;
    const reader = new FrameReader();
    const socket = connect(this.path);
    this.socket = socket;
    this.writer = new BatchedWriter(socket);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.connected = true;
      this.delay = RECONNECT_MIN;
      this.wake();
    });
    socket.on('data', (chunk: Buffer) => {
      let payloads: Buffer[];
      try {
        payloads = reader.push(chunk);
      } catch (err) {
        this.hangUp(socket, (err as Error).message);
        return;
      }
      for (const payload of payloads) {
        const reply = readFrame(payload, decodeReplyFrame);
        if (!(reply instanceof BadFrameError)) {
          this.settle(reply.id, reply);
        } else if (reply.id === undefined) {
          this.hangUp(socket, reply.message);
          return;
        } else {
          this.log.error({ channel: this.path, reason: reply.message }, 'malformed reply frame; failing its request');
          this.settle(reply.id, reply);
        }
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.connected) this.log.warn({ channel: this.path, err: err.message }, 'channel error');
    });
    socket.on('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      this.failPending(wasConnected
        ? new ActorrtError('ACTORRT_E_ACTOR_CRASHED', 'the pool process handling this request exited before replying')
        : new ActorrtError('ACTORRT_E_POOL_DOWN', 'the pool process is not reachable'));
      if (this.closed) return;
      this.retry = setTimeout(() => this.open(), this.delay);
      this.retry.unref();
      this.delay = Math.min(RECONNECT_MAX, Math.max(RECONNECT_MIN, this.delay * 2));
    });
  }

  /** Answer the request a checked reply (or a malformed one with a readable id) is about. */
  private settle(id: number, reply: ReceivedReply | BadFrameError): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return; // timed out already; the late reply is dropped
    this.pending.delete(id);
    this.deadlines.cancel(pending.deadline);
    if (this.pending.size === 0) this.idle?.();
    if (reply instanceof BadFrameError) pending.reject(reply);
    else if (reply.ok) pending.resolve(reply.value);
    else pending.reject(reply.error);
  }

  /**
   * A frame that cannot be matched to a request: the stream can no longer be trusted, so the
   * connection is closed and everything in flight on it fails (never retried: the peer may have
   * run it), with the reason rather than as a crash. The channel then reconnects as after any close.
   */
  private hangUp(socket: Socket, reason: string): void {
    this.log.error({ channel: this.path, reason }, 'malformed reply frame; closing the connection');
    this.failPending(new ActorrtError('ACTORRT_E_BAD_FRAME', `the channel to the pool process was closed after a malformed reply frame: ${reason}`));
    socket.destroy();
  }

  private failPending(err: ActorrtError): void {
    for (const [id, p] of this.pending) {
      this.deadlines.cancel(p.deadline);
      p.reject(err);
      this.pending.delete(id);
    }
    if (this.pending.size === 0) this.idle?.();
  }
}
