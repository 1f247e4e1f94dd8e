import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { ActorRequest } from '../../actors/index.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Pool } from '../pool/pool.js';
import { BatchedWriter } from './batched-writer.js';
import { decodeFrame, encodeFrame, FrameReader, FrameTooLargeError, MAX_FRAME_BYTES } from './frames.js';
import { splitBinary, type ReplyFrame, type RequestFrame } from './wire.js';
import { checkBody } from '../reply.js';
import { withDeadline } from '../deadline.js';

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

/** The pool a channel request names, if it runs in this process. */
export type PoolLookup = (name: string) => Pool | undefined;

/**
 * Serve this process's pools on a Unix socket: every peer (a front worker, another pool process)
 * holds one connection and multiplexes its requests over it by id. Pools are looked up per
 * request, so pools added or resized live are served at once.
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
  socket.on('data', (chunk: Buffer) => {
    let payloads: Buffer[];
    try {
      payloads = reader.push(chunk);
    } catch (err) {
      log.error({ err }, 'malformed channel frame; closing the connection');
      socket.destroy();
      return;
    }
    for (const payload of payloads) {
      const { message, binary } = decodeFrame(payload);
      const frame = message as RequestFrame;
      const req = (frame.bin === 1 ? { ...frame.req, body: binary } : frame.req) as ActorRequest;
      const pool = pools(frame.pool);
      const outcome = pool === undefined
        ? Promise.reject(new ActorrtError('ACTORRT_E_UNKNOWN_POOL', `pool "${frame.pool}" does not run in this process`))
        : pool.dispatch(req, frame.timeout);
      outcome.then((value) => {
        try {
          checkBody(value);
          const { json, binary: tail, bin } = splitBinary(value);
          reply(writer, bin === undefined ? { t: 'res', id: frame.id, ok: true, value: json } : { t: 'res', id: frame.id, ok: true, value: json, bin }, tail);
        } catch (err) {
          // Only this request fails: a throw here would take the process (and every request in it) down.
          const e = unsendable(frame.pool, err);
          log.error({ pool: frame.pool, requestId: req.requestId, err: e.message }, 'reply cannot cross the channel; answering 500');
          reply(writer, { t: 'res', id: frame.id, ok: false, code: e.code, message: e.message }, undefined);
        }
      }, (err: unknown) => {
        const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_INTERNAL', 'internal error in the pool process');
        if (!(err instanceof ActorrtError)) log.error({ err, requestId: req.requestId }, 'internal error serving a channel request');
        reply(writer, { t: 'res', id: frame.id, ok: false, code: e.code, message: e.message }, undefined);
      });
    }
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

function reply(writer: BatchedWriter, frame: ReplyFrame, binary: Buffer | undefined): void {
  writer.write(encodeFrame(frame, binary));
}
