import { connect, type Socket } from 'node:net';
import type { ActorRequest, RequestTrace } from '../../actors/index.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BatchedWriter } from './batched-writer.js';
import { FrameReader } from './frames.js';
import { BadFrameError, decodeReplyFrame, encodeRequestFrame, readFrame } from './wire.js';
import { PendingReplies } from './pending-replies.js';

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
  private readonly replies = new PendingReplies();
  private closed = false;
  private delay = RECONNECT_MIN;
  private retry: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
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
    return this.replies.size;
  }

  /**
   * Send `req` to `pool` at the other end; rejects with a coded error on failure or timeout. The
   * frame carries `via`'s traceparent (the caller's span: the request's, or a dispatch span).
   */
  request(pool: string, req: ActorRequest, timeout: number, via: RequestTrace = req.trace): Promise<unknown> {
    const bad = PendingReplies.badTimeout(pool, timeout);
    if (bad !== undefined) return Promise.reject(bad);
    const writer = this.writer;
    if (writer === undefined || !this.connected) {
      return Promise.reject(new ActorrtError('ACTORRT_E_POOL_DOWN', `pool "${pool}" is not reachable (${this.path})`));
    }
    const id = this.replies.nextId();
    const frame = encodeRequestFrame(id, pool, req, timeout, via);
    if (frame instanceof Error) return Promise.reject(frame);
    const reply = this.replies.wait(id, pool, timeout);
    writer.write(frame);
    return reply;
  }

  /**
   * Send nothing more; close once every request in flight is answered, or after `timeout` ms.
   * Closing is what tells the peer this side is done (a retiring process waits for it).
   */
  async closeWhenIdle(timeout: number): Promise<void> {
    await this.replies.whenIdle(timeout);
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
          this.replies.settle(reply.id, reply);
        } else if (reply.id === undefined) {
          this.hangUp(socket, reply.message);
          return;
        } else {
          this.log.error({ channel: this.path, reason: reply.message }, 'malformed reply frame; failing its request');
          this.replies.settle(reply.id, reply);
        }
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.connected) this.log.warn({ channel: this.path, err: err.message }, 'channel error');
    });
    socket.on('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      this.replies.failAll(wasConnected
        ? new ActorrtError('ACTORRT_E_ACTOR_CRASHED', 'the pool process handling this request exited before replying')
        : new ActorrtError('ACTORRT_E_POOL_DOWN', 'the pool process is not reachable'));
      if (this.closed) return;
      this.retry = setTimeout(() => this.open(), this.delay);
      this.retry.unref();
      this.delay = Math.min(RECONNECT_MAX, Math.max(RECONNECT_MIN, this.delay * 2));
    });
  }

  /**
   * A frame that cannot be matched to a request: the stream can no longer be trusted, so the
   * connection is closed and everything in flight on it fails (never retried: the peer may have
   * run it), with the reason rather than as a crash. The channel then reconnects as after any close.
   */
  private hangUp(socket: Socket, reason: string): void {
    this.log.error({ channel: this.path, reason }, 'malformed reply frame; closing the connection');
    this.replies.failAll(new ActorrtError('ACTORRT_E_BAD_FRAME', `the channel to the pool process was closed after a malformed reply frame: ${reason}`));
    socket.destroy();
  }
}
