import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { ActorRequest } from '../../actors/index.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BatchedWriter } from './batched-writer.js';
import { encodeFrame, FrameReader, FrameTooLargeError, MAX_FRAME_BYTES } from './frames.js';
import { BadFrameError, decodeRequestFrame, readFrame, splitBinary, type ReceivedRequest, type ReplyFrame } from './wire.js';
import { checkBody } from '../reply.js';
import { withDeadline } from '../deadline.js';
import { endWith, openSpan, SpanKind, tracer } from '../trace/tracing.js';

/** A listening endpoint. */
export interface Endpoint {
  /**
   * Stop accepting and wait (bounded by `timeout`) until every peer has closed its connection: a
   * peer closes once it routes nothing more here and its requests are answered, so a retiring
   * process serves everything its peers sent before they let it go.
   */
  peersGone(timeout: number): Promise<void>;
  /** Stop accepting, flush the replies already written, then close every connection (bounded by `timeout`). */
  close(timeout?: number): Promise<void>;
}

/**
 * What the endpoint needs of a pool. Its own structural type, so channel/ imports nothing from
 * pool/ (whose remote pools import channel/); a pool/Pool is one.
 */
export interface Dispatcher {
  dispatch(req: ActorRequest, timeout: number): Promise<unknown>;
}

/**
 * Sends a reply frame (its JSON part and binary tail) to the peer: encoded onto a socket, or posted
 * to a thread. Throws when it cannot be sent (not JSON, past the frame limit): that request fails.
 */
export type FrameWriter = (message: ReplyFrame, binary?: Buffer) => void;

/** The pool a channel request names, if it runs in this process. */
export type PoolLookup = (name: string) => Dispatcher | undefined;

/**
 * Serve this process's pools on a Unix socket: every peer (a front worker, another pool process)
 * holds one connection and multiplexes its requests over it by id. Pools are looked up per
 * request, so pools added or resized live are served at once. Every frame is checked before it is
 * served (decodeRequestFrame): a malformed request is answered ACTORRT_E_BAD_FRAME, and a frame that
 * names no readable request closes its connection.
 */
export function serveEndpoint(path: string, pools: PoolLookup, log: Logger): Promise<Endpoint> {
  rmSync(path, { force: true });
  const sockets = new Set<Socket>();
  let allGone: (() => void) | undefined;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) allGone?.();
    });
    serveConnection(socket, pools, log);
  });
  const peersGone = async (timeout: number): Promise<void> => {
    server.close();
    if (sockets.size > 0) await withDeadline(new Promise<void>((resolve) => { allGone = resolve; }), timeout);
  };
  const close = async (timeout = 1000): Promise<void> => {
    server.close();
    // Let writes already queued (replies corked until the batched writer's setImmediate) reach the peer first.
    await new Promise((r) => setImmediate(r));
    const closed = [...sockets].map((s) => new Promise<void>((r) => { s.once('close', () => r()); s.end(); }));
    await withDeadline(Promise.all(closed), timeout);
    for (const s of sockets) s.destroy();
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve({ peersGone, close }));
  });
}

function serveConnection(socket: Socket, pools: PoolLookup, log: Logger): void {
  const reader = new FrameReader();
  const writer = new BatchedWriter(socket);
  socket.setNoDelay(true);
  socket.on('error', (err) => log.debug({ err }, 'channel connection error'));
  // Input that cannot be matched to a request closes this connection only: its peer fails what it
  // had in flight here and reconnects. Nothing may throw out of this handler (it would take the
  // process, and every request in it, down).
  const hangUp = (reason: string): void => {
    log.error({ reason }, 'malformed channel frame; closing the connection');
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    let payloads: Buffer[];
    try {
      payloads = reader.push(chunk);
    } catch (err) {
      hangUp((err as Error).message);
      return;
    }
    const write: FrameWriter = (message, binary) => writer.write(encodeFrame(message, binary));
    for (const payload of payloads) {
      const unreadable = serveRequestFrame(payload, write, pools, log);
      if (unreadable !== undefined) {
        hangUp(unreadable);
        return;
      }
    }
  });
}

/**
 * Serve one request frame's payload (without its leading length) from a peer, a channel's or a
 * thread's (runtime/pool-thread/): the reply frame goes to `write` once the pool answers. Returns
 * why, when the payload names no readable request (the caller then stops trusting the link);
 * a readable but malformed one is answered ACTORRT_E_BAD_FRAME. Never throws.
 */
export function serveRequestFrame(payload: Buffer, write: FrameWriter, pools: PoolLookup, log: Logger): string | undefined {
  return serveCheckedRequest(readFrame(payload, decodeRequestFrame), write, pools, log);
}

/** serveRequestFrame for a frame already decoded and checked (decodeRequestFrame). */
export function serveCheckedRequest(frame: ReceivedRequest | BadFrameError, write: FrameWriter, pools: PoolLookup, log: Logger): string | undefined {
  if (!(frame instanceof BadFrameError)) {
    serve(frame, write, pools, log);
  } else if (frame.id === undefined) {
    return frame.message;
  } else {
    log.error({ reason: frame.message }, 'malformed channel request; answering ACTORRT_E_BAD_FRAME');
    replyError(write, frame.id, frame);
  }
  return undefined;
}

/** Run one checked request on its pool and write the reply; never throws, never rejects. */
function serve(frame: ReceivedRequest, write: FrameWriter, pools: PoolLookup, log: Logger): void {
  const { id, pool: name } = frame;
  // With an OpenTelemetry SDK, the pool side of the hop is a SERVER span under the caller's
  // dispatch span, and the actor sees its ids.
  const opened = tracer() === undefined ? undefined
    : openSpan(`serve ${name}`, SpanKind.SERVER, frame.parent, { 'actorrt.pool': name, 'actorrt.request_id': frame.req.requestId });
  const req = opened === undefined ? frame.req : { ...frame.req, trace: opened.trace };
  let outcome: Promise<unknown>;
  try {
    const pool = pools(name);
    outcome = pool === undefined
      ? Promise.reject(new ActorrtError('ACTORRT_E_UNKNOWN_POOL', `pool "${name}" does not run in this process`))
      : pool.dispatch(req, frame.timeout);
  } catch (err) {
    outcome = Promise.reject(err); // a dispatch that throws instead of rejecting fails this request only
  }
  outcome = endWith(opened?.span, outcome);
  outcome.then((value) => {
    try {
      checkBody(value);
      const { json, binary: tail, bin } = splitBinary(value);
      const reply: ReplyFrame = bin === undefined ? { t: 'res', id, ok: true, value: json } : { t: 'res', id, ok: true, value: json, bin };
      write(reply, tail);
    } catch (err) {
      // Only this request fails: a throw here would take the process (and every request in it) down.
      const e = unsendable(name, err);
      log.error({ pool: name, requestId: req.requestId, traceId: req.trace.traceId, err: e.message }, 'reply cannot cross the channel; answering 500');
      replyError(write, id, e);
    }
  }, (err: unknown) => {
    const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_INTERNAL', 'internal error in the pool process');
    if (!(err instanceof ActorrtError)) log.error({ err, requestId: req.requestId, traceId: req.trace.traceId }, 'internal error serving a channel request');
    replyError(write, id, e);
  });
}

/** Why a reply could not be encoded: too large for a frame, or not JSON (a BigInt, a cycle). */
function unsendable(pool: string, err: unknown): ActorrtError {
  if (err instanceof ActorrtError) return err;
  if (err instanceof FrameTooLargeError) {
    return new ActorrtError('ACTORRT_E_REPLY_TOO_LARGE', `pool "${pool}" replied with ${err.bytes} bytes; replies from isolated pools are limited to ${MAX_FRAME_BYTES} bytes`);
  }
  return new ActorrtError('ACTORRT_E_BAD_REPLY', `the actor's reply does not serialize to JSON: ${(err as Error).message}`);
}

function replyError(write: FrameWriter, id: number, e: ActorrtError): void {
  try {
    write({ t: 'res', id, ok: false, code: e.code, message: e.message } satisfies ReplyFrame);
  } catch {
    // Only a message past the frame limit gets here; the code alone still tells the caller what failed.
    write({ t: 'res', id, ok: false, code: e.code, message: 'the error message exceeds the channel frame limit' } satisfies ReplyFrame);
  }
}
