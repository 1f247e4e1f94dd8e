import type { ServerResponse } from 'node:http';
import { ActorrtError } from '../errors.js';

const REPLY_KEYS = new Set(['status', 'headers', 'body']);
/** The headers of a reply that set none; compared by identity on the hot path. */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** A reply ready to write. */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: unknown;
}

/** Interpret what receive() returned: `{ status?, headers?, body? }`, or any other value as a 200 JSON body. */
export function toReply(value: unknown): Reply {
  if (isReplyShape(value)) {
    const status = value.status ?? 200;
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new ActorrtError('ACTORRT_E_BAD_REPLY', `the actor replied with status ${String(status)}; use an integer from 100 to 599`);
    }
    return { status, headers: value.headers ?? NO_HEADERS, body: value.body };
  }
  return { status: 200, headers: NO_HEADERS, body: value };
}

function isReplyShape(value: unknown): value is { status?: number; headers?: Record<string, string>; body?: unknown } {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => REPLY_KEYS.has(k));
}

/** Write a reply; JSON unless the body is a string or Buffer. HEAD gets the headers only. */
export function writeReply(res: ServerResponse, reply: Reply, requestId: string, head: boolean): void {
  let payload: string | Buffer | undefined;
  let type: string | undefined;
  const { body } = reply;
  if (body === undefined || reply.status === 204 || reply.status === 304) {
    payload = undefined;
  } else if (Buffer.isBuffer(body)) {
    payload = body;
    type = 'application/octet-stream';
  } else if (typeof body === 'string') {
    payload = body;
    type = 'text/plain; charset=utf-8';
  } else {
    try {
      payload = JSON.stringify(body);
    } catch (err) {
      throw new ActorrtError('ACTORRT_E_BAD_REPLY', `the actor's reply body does not serialize to JSON: ${(err as Error).message}`);
    }
    type = 'application/json; charset=utf-8';
  }
  const length = payload !== undefined ? Buffer.byteLength(payload) : reply.status === 204 || reply.status === 304 ? undefined : 0;
  let headers: Record<string, string | number | readonly string[]>;
  if (reply.headers === NO_HEADERS) {
    // The common case (no actor headers) as one literal: no spread, no lookups.
    headers = length === undefined
      ? { 'x-request-id': requestId }
      : type === undefined
        ? { 'content-length': length, 'x-request-id': requestId }
        : { 'content-type': type, 'content-length': length, 'x-request-id': requestId };
  } else {
    headers = { ...reply.headers, 'x-request-id': requestId };
    if (type !== undefined && !hasHeader(reply.headers, 'content-type')) headers['content-type'] = type;
    if (length !== undefined) headers['content-length'] = length;
  }
  res.writeHead(reply.status, headers as Record<string, string | number | string[]>);
  res.end(head ? undefined : payload);
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
