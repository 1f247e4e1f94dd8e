import type { IncomingMessage } from 'node:http';
import { isUtf8 } from 'node:buffer';
import { ActorrtError } from '../errors.js';

/** The client went away before sending the whole body; there is nobody to answer. */
export class ClientAbortedError extends Error {}

/** True when the request carries a body (declared length > 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Past the limit, a chunked body is still read and discarded up to this much, so the client can finish sending and read its 413. */
export const LINGER_BYTES = 4 * 1024 * 1024;

/**
 * Read the whole body, refusing more than `limit` bytes. A declared Content-Length over the limit
 * is refused before a byte is read. A chunked body that passes the limit is discarded (bounded by
 * LINGER_BYTES, and by the server's request timeout) before the 413 goes out: answering while
 * the client still writes would make it fail with EPIPE and never see the 413.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? -1);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      if (size > limit + LINGER_BYTES) {
        cleanup();
        req.pause();
        reject(tooLarge(limit));
      }
    };
    const onEnd = (): void => {
      cleanup();
      if (size > limit) reject(tooLarge(limit));
      else resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size));
    };
    const onAbort = (): void => { cleanup(); reject(new ClientAbortedError('client aborted the request')); };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('aborted', onAbort);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('aborted', onAbort);
  });
}

/** Deepest JSON nesting a request body may have. */
export const MAX_JSON_DEPTH = 256;

/** JSON for JSON content types (400 when it does not parse), the raw Buffer otherwise. */
export function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  if (contentType !== undefined && isJson(contentType)) {
    // JSON is UTF-8 (RFC 8259): invalid bytes would otherwise become U+FFFD and pass unnoticed.
    if (!isUtf8(raw)) throw new ActorrtError('ACTORRT_E_BAD_JSON', 'the request body is not valid UTF-8');
    const text = raw.toString('utf8');
    const depth = nestingDepth(text, MAX_JSON_DEPTH);
    if (depth > MAX_JSON_DEPTH) {
      throw new ActorrtError('ACTORRT_E_BAD_JSON', `the request body nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new ActorrtError('ACTORRT_E_BAD_JSON', `the request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  return raw;
}

/**
 * Deepest array / object nesting in JSON text, counted up to `limit + 1`. A parsed body that nests
 * thousands deep parses fine but overflows the stack of whatever walks it later (JSON.stringify
 * on the way to an isolated pool, an actor's recursion). Bodies with fewer brackets than the
 * limit cannot be that deep and skip the scan.
 */
export function nestingDepth(text: string, limit: number): number {
  let opens = 0;
  for (let i = 0; i < text.length && opens <= limit; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) opens++;
  }
  if (opens <= limit) return opens;
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

function isJson(contentType: string): boolean {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/** The 413 for a body past `limit` bytes. */
export function tooLarge(limit: number): ActorrtError {
  return new ActorrtError('ACTORRT_E_BODY_TOO_LARGE', `the request body is larger than ${limit} bytes`, { hint: 'http.limits.bodyBytes' });
}
