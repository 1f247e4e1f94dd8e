import type { Reply } from '../reply.js';
import { encodeBody } from '../reply.js';

/**
 * Pure cache decisions: what a stored reply looks like, whether a reply may be stored, how fresh
 * an entry is, whether a request may skip the lookup. No store, no clock of its own.
 */

/** A reply as a cache keeps it: the bytes to send and the headers that belong to the reply. */
export interface StoredReply {
  readonly kind: 'reply';
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** Text bodies (JSON included) stay strings: node writes a string body in one write with its head, a Buffer in two. */
  readonly body: string | Buffer;
  /** When it was stored (ms since the epoch): Age is counted from here. */
  readonly storedAt: number;
  /** Fresh until then; stale (served only within staleWhileRevalidate / staleIfError) after. */
  readonly freshUntil: number;
}

/** The timing part of a route's policy. */
export interface Freshness {
  readonly ttl: number;
  readonly staleWhileRevalidate: number;
  readonly staleIfError: number;
}

/** Headers that describe one exchange, never stored (x-request-id is per request; the rest are recomputed). */
const NOT_STORED = new Set(['x-request-id', 'connection', 'keep-alive', 'transfer-encoding', 'date', 'age', 'x-cache', 'content-length', 'set-cookie']);

/** Why a reply is not stored, or undefined when it may be. */
export function unstorable(reply: Reply, statuses: readonly number[]): string | undefined {
  if (!statuses.includes(reply.status)) return `status ${reply.status}`;
  for (const [name, value] of Object.entries(reply.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'set-cookie') return 'Set-Cookie';
    if (lower === 'cache-control' && /(?:^|[\s,])(?:no-store|private)(?:$|[\s,=])/i.test(Array.isArray(value) ? value.join(',') : String(value))) return 'Cache-Control';
  }
  if (reply.body !== undefined && typeof reply.body === 'object' && reply.body !== null && typeof (reply.body as { pipe?: unknown }).pipe === 'function') return 'streamed body';
  return undefined;
}

/** Turn a reply into what the store keeps: body encoded once (a hit writes it as it is), per-exchange headers dropped. */
export function toStored(reply: Reply, now: number, ttl: number): StoredReply {
  const { payload, type } = encodeBody(reply);
  const headers: Record<string, string | readonly string[]> = {};
  let hasType = false;
  for (const [name, value] of Object.entries(reply.headers)) {
    const lower = name.toLowerCase();
    if (NOT_STORED.has(lower)) continue;
    if (lower === 'content-type') hasType = true;
    headers[lower] = value;
  }
  if (!hasType && type !== undefined) headers['content-type'] = type;
  const body = payload ?? '';
  return { kind: 'reply', status: reply.status, headers, body, storedAt: now, freshUntil: now + ttl };
}

/** A stored reply as a reply to write (the body is already bytes). */
export function fromStored(entry: StoredReply): Reply {
  return { status: entry.status, headers: entry.headers, body: entry.status === 204 || entry.status === 304 ? undefined : entry.body };
}

/** How long an entry stays in the store: fresh, then as long as either stale window may use it. */
export function retention(f: Freshness): number {
  return f.ttl + Math.max(f.staleWhileRevalidate, f.staleIfError);
}

/** fresh: serve; revalidate: serve stale and refresh in the background; stale-if-error: usable only if a refresh fails; expired: a miss. */
export type EntryState = 'fresh' | 'revalidate' | 'stale-if-error' | 'expired';

/** Where an entry stands at `now` under a route's windows. */
export function entryState(entry: Pick<StoredReply, 'freshUntil'>, f: Freshness, now: number): EntryState {
  if (now < entry.freshUntil) return 'fresh';
  const late = now - entry.freshUntil;
  if (late < f.staleWhileRevalidate) return 'revalidate';
  if (late < f.staleIfError) return 'stale-if-error';
  return 'expired';
}

/** Whether a failed refresh (a 5xx reply) may fall back to a stale entry (RFC 5861: 500, 502, 503, 504). */
export function isServerError(status: number): boolean {
  return status >= 500;
}

/** Whether the request's Cache-Control asks to skip stored replies (no-cache, or max-age=0). */
export function asksNoCache(cacheControl: string | readonly string[] | undefined): boolean {
  if (cacheControl === undefined) return false;
  const value = typeof cacheControl === 'string' ? cacheControl : cacheControl.join(',');
  return /(?:^|[\s,])(?:no-cache|max-age\s*=\s*0)(?:$|[\s,])/i.test(value);
}

/** Age header value: whole seconds since the entry was stored. */
export function ageOf(entry: Pick<StoredReply, 'storedAt'>, now: number): number {
  return Math.max(0, Math.floor((now - entry.storedAt) / 1000));
}

/** Narrow what a store returned to a stored reply (a value an actor put under the same key is not one). */
export function isStoredReply(value: unknown): value is StoredReply {
  if (value === null || typeof value !== 'object' || (value as { kind?: unknown }).kind !== 'reply') return false;
  const { body } = value as { body?: unknown };
  return typeof body === 'string' || Buffer.isBuffer(body);
}
