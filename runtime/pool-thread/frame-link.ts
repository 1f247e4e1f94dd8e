import type { ActorRequest, RequestTrace } from '../../actors/index.js';
import { serveCheckedRequest, type PoolLookup } from '../channel/endpoint.js';
import { BadFrameError, decodeReplyFrame, decodeRequestFrame, requestFrame } from '../channel/wire.js';
import { PendingReplies } from '../channel/pending-replies.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * What crosses the port: the frames of one event-loop turn in one message. A frame is its JSON
 * text, or its JSON text and its binary tail (a Buffer body) in an ArrayBuffer of its own,
 * transferred rather than copied (posting the Buffer would clone the whole 8 KiB slab a small
 * Buffer lives in).
 */
export type Batch = ReadonlyArray<string | readonly [string, ArrayBuffer]>;

/** Posts a batch to the other side, moving `transfer`. */
export type PostBatch = (batch: Batch, transfer: ArrayBuffer[]) => void;

/**
 * Both ends of a MessagePort between a front worker and one of its pool threads, for requests:
 * requests go out with `request` and come back through `receive`; requests the other side sends
 * (the front's to the thread's actors, an actor's ctx.ask to the front) are served from `pools`,
 * exactly as a pool process's socket endpoint serves them (runtime/channel/endpoint.ts): the same
 * frames, the same checks, JSON text instead of bytes.
 *
 * Frames are batched per event-loop turn (flushed in setImmediate), as a channel's BatchedWriter
 * corks its socket: a postMessage costs a wake-up of the other thread's loop, which is most of a
 * hop's price when every request is posted alone.
 */
export class FrameLink {
  private readonly replies: PendingReplies;
  private queue: Array<string | readonly [string, ArrayBuffer]> = [];
  private transfer: ArrayBuffer[] = [];
  private flushing = false;

  /** `changed` hears every change of the requests this side has in flight (see PendingReplies). */
  constructor(private readonly post: PostBatch, private readonly pools: PoolLookup, private readonly log: Logger, changed?: (delta: number, size: number) => void) {
    this.replies = new PendingReplies(changed);
  }

  /** Requests sent and not yet answered. */
  get inflight(): number {
    return this.replies.size;
  }

  /** Requests replied to with a value in time since the link opened. */
  get replied(): number {
    return this.replies.replied;
  }

  /** Send `req` to `pool` on the other side; rejects with a coded error on failure or timeout. */
  request(pool: string, req: ActorRequest, timeout: number, via: RequestTrace = req.trace): Promise<unknown> {
    const bad = PendingReplies.badTimeout(pool, timeout);
    if (bad !== undefined) return Promise.reject(bad);
    const id = this.replies.nextId();
    const { message, binary } = requestFrame(id, pool, req, timeout, via);
    try {
      this.send(message, binary);
    } catch (err) {
      return Promise.reject(err); // not JSON (a ctx.ask message with a BigInt or a cycle): this call fails alone
    }
    return this.replies.wait(id, pool, timeout);
  }

  /**
   * A batch the other side posted: replies settle their requests, requests are served. Returns why,
   * when a frame names no readable request (the link can then not be trusted: the caller ends it).
   */
  receive(batch: unknown): string | undefined {
    if (!Array.isArray(batch)) return 'a message that is not a batch of frames';
    for (const item of batch as unknown[]) {
      const unreadable = this.receiveFrame(item);
      if (unreadable !== undefined) return unreadable;
    }
    return undefined;
  }

  /** Fail every request in flight with `err` (the other side is gone). */
  failAll(err: ActorrtError): void {
    this.replies.failAll(err);
  }

  /** Resolves once no request is in flight, or after `timeout` ms. */
  whenIdle(timeout: number): Promise<void> {
    return this.replies.whenIdle(timeout);
  }

  /** Queue a frame for this turn's batch; throws when `message` is not JSON. */
  private readonly send = (message: object, binary?: Buffer): void => {
    const json = JSON.stringify(message);
    if (binary === undefined) {
      this.queue.push(json);
    } else {
      const tail = binary.buffer.slice(binary.byteOffset, binary.byteOffset + binary.byteLength) as ArrayBuffer;
      this.queue.push([json, tail]);
      this.transfer.push(tail);
    }
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(this.flush);
    }
  };

  private readonly flush = (): void => {
    this.flushing = false;
    const batch = this.queue;
    const transfer = this.transfer;
    this.queue = [];
    this.transfer = [];
    this.post(batch, transfer);
  };

  private receiveFrame(item: unknown): string | undefined {
    let json: unknown = item;
    let binary: Buffer | undefined;
    if (Array.isArray(item)) {
      const [text, tail] = item as unknown[];
      if (!(tail instanceof ArrayBuffer)) return 'a frame whose binary tail is not an ArrayBuffer';
      json = text;
      binary = Buffer.from(tail);
    }
    if (typeof json !== 'string') return 'a frame that is not JSON text';
    let message: unknown;
    try {
      message = JSON.parse(json);
    } catch (err) {
      return `a frame that is not JSON: ${(err as Error).message}`;
    }
    if (typeof message === 'object' && message !== null && (message as { t?: unknown }).t === 'req') {
      return serveCheckedRequest(decodeRequestFrame(message, binary), this.send, this.pools, this.log);
    }
    const reply = decodeReplyFrame(message, binary);
    const { id } = reply;
    if (id === undefined) return reply instanceof BadFrameError ? reply.message : 'a reply without an id';
    this.replies.settle(id, reply);
    return undefined;
  }
}
