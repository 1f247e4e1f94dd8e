import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { ActorrtError } from '../errors.js';
import type { ByteRange } from '../cache/byte-range.js';
import { notModifiedFields } from '../cache/conditional.js';
import { lowerCased, type StoredReply } from '../cache/storing.js';
import { encodeBody, NO_HEADERS, type Reply } from '../reply.js';

/**
 * Write a reply; JSON unless the body is a string, Buffer or stream. HEAD gets the headers only.
 * `extra` headers (the cache's X-Cache, Age, Vary) are added after the reply's own.
 */
export function writeReply(res: ServerResponse, reply: Reply, requestId: string, head: boolean, extra?: readonly string[]): void {
  if (isStream(reply.body)) return writeStream(res, reply, reply.body, requestId, head, extra);
  const { payload, type } = encodeBody(reply);
  // A reply to HEAD (an actor's or an upstream's) may state the length a GET would have (RFC 9110 section 9.3.2): kept as it is.
  const length = head && payload === undefined && hasHeader(reply.headers, 'content-length') ? undefined
    : payload !== undefined ? Buffer.byteLength(payload) : reply.status === 204 || reply.status === 304 ? undefined : 0;
  let headers: Record<string, string | number | readonly string[]>;
  if (reply.headers === NO_HEADERS && extra === undefined) {
    // The common case (no actor headers) as one literal: no spread, no lookups.
    headers = length === undefined
      ? { 'x-request-id': requestId }
      : type === undefined
        ? { 'content-length': length, 'x-request-id': requestId }
        : { 'content-type': type, 'content-length': length, 'x-request-id': requestId };
  } else {
    headers = withPairs({ ...reply.headers }, extra);
    headers['x-request-id'] = requestId;
    if (type !== undefined && !hasHeader(reply.headers, 'content-type')) headers['content-type'] = type;
    if (length !== undefined) headers['content-length'] = length;
  }
  writeHead(res, reply.status, headers);
  res.end(head ? undefined : payload);
}

/**
 * writeHead with an actor's headers: node refuses a name that is not a token or a value with CR,
 * LF or other control bytes (header injection); that is the actor's bad reply, not ours.
 */
function writeHead(res: ServerResponse, status: number, headers: Record<string, string | number | readonly string[]>): void {
  try {
    res.writeHead(status, headers as Record<string, string | number | string[]>);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'ERR_INVALID_CHAR' && code !== 'ERR_INVALID_HTTP_TOKEN' && code !== 'ERR_HTTP_INVALID_HEADER_VALUE') throw err;
    res.removeHeader('content-type'); // writeHead may have set some before it refused one
    throw new ActorrtError('ACTORRT_E_BAD_REPLY', `the actor's reply has an invalid header: ${(err as Error).message}`);
  }
}

/** A body too large to hold (a proxied reply): its headers now, its bytes as they come. */
function writeStream(res: ServerResponse, reply: Reply, body: Readable, requestId: string, head: boolean, extra: readonly string[] | undefined): void {
  const headers = withPairs({ ...reply.headers }, extra);
  headers['x-request-id'] = requestId;
  writeHead(res, reply.status, headers);
  if (head) {
    body.destroy();
    res.end();
    return;
  }
  body.on('error', () => res.destroy()); // the upstream broke off mid-body: the client must not take it as complete
  body.pipe(res);
}

/** Add name / value pairs (the cache's headers) to a header object, after the reply's own. */
function withPairs(headers: Record<string, string | number | readonly string[]>, pairs: readonly string[] | undefined): Record<string, string | number | readonly string[]> {
  if (pairs !== undefined) for (let i = 0; i + 1 < pairs.length; i += 2) headers[pairs[i] as string] = pairs[i + 1] as string;
  return headers;
}

function isStream(body: unknown): body is Readable {
  // Checked on every reply: a property test, not instanceof (stream classes define Symbol.hasInstance).
  return typeof body === 'object' && body !== null && typeof (body as { pipe?: unknown }).pipe === 'function' && !Buffer.isBuffer(body);
}

/**
 * Write a reply read from a cache as it was stored (body already encoded, headers already
 * filtered), then `extra` header pairs (X-Cache, Age, Vary): one flat header list, no copies.
 */
export function writeStored(res: ServerResponse, entry: StoredReply, requestId: string, head: boolean, extra: readonly string[]): void {
  const flat = storedFields(entry, extra);
  flat.push('x-request-id', requestId);
  const empty = entry.status === 204 || entry.status === 304;
  if (!empty) flat.push('content-length', String(Buffer.byteLength(entry.body)));
  res.writeHead(entry.status, flat);
  res.end(head || empty ? undefined : entry.body);
}

/**
 * A part of a stored reply for a Range request (RFC 9110 section 15.3.7): 206 with Content-Range,
 * or 416 with the size when the range starts past the end (section 15.5.17).
 */
export function writeRange(res: ServerResponse, entry: StoredReply, range: ByteRange | 'unsatisfiable', requestId: string, head: boolean,
  extra: readonly string[]): void {
  const bytes = typeof entry.body === 'string' ? Buffer.from(entry.body) : entry.body;
  if (range === 'unsatisfiable') {
    res.writeHead(416, [...extra, 'content-range', `bytes */${bytes.length}`, 'content-length', '0', 'x-request-id', requestId]);
    res.end();
    return;
  }
  const part = bytes.subarray(range.start, range.end + 1);
  const flat = storedFields(entry, extra);
  flat.push('content-range', `bytes ${range.start}-${range.end}/${bytes.length}`, 'content-length', String(part.length), 'x-request-id', requestId);
  res.writeHead(206, flat);
  res.end(head ? undefined : part);
}

/**
 * A 304 for a client's conditional request answered by the cache (RFC 9111 section 4.3.2): the
 * fields RFC 9110 section 15.4.5 asks for, taken from the reply it stands for, then `extra`.
 */
export function writeNotModified(res: ServerResponse, headers: Readonly<Record<string, string | readonly string[]>>, requestId: string, extra: readonly string[]): void {
  const flat = notModifiedFields({ headers: lowerCased(headers) });
  const ownVary = extra.includes('vary');
  for (let i = 0; i < flat.length; i += 2) {
    if (ownVary && flat[i] === 'vary') flat.splice(i, 2), i -= 2;
  }
  for (const v of extra) flat.push(v);
  flat.push('x-request-id', requestId);
  res.writeHead(304, flat);
  res.end();
}

/** A stored reply's fields as one flat name / value list, then `extra` (whose Vary, when it has one, already merges the entry's). */
function storedFields(entry: StoredReply, extra: readonly string[]): string[] {
  const flat: string[] = [];
  const ownVary = extra.includes('vary');
  for (const name in entry.headers) {
    if (ownVary && name === 'vary') continue;
    const value = entry.headers[name] as string | readonly string[];
    if (typeof value === 'string') flat.push(name, value);
    else for (const v of value) flat.push(name, v);
  }
  for (const v of extra) flat.push(v);
  return flat;
}

/** Answer with `{ "error": { code, message, requestId } }`; never a stack trace. */
export function writeError(res: ServerResponse, error: ActorrtError, requestId: string, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify({ error: { code: error.code, message: error.message, requestId } });
  res.writeHead(error.status, {
    ...extraHeaders,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'x-request-id': requestId,
  });
  res.end(payload);
}

function hasHeader(headers: Readonly<Record<string, unknown>>, name: string): boolean {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}
