import { encodeBody, type Reply } from '../reply.js';
import { fieldText, fieldTokens, parseDirectives, surrogateDirectives, varyNames, type FieldValue } from './cache-control.js';
import { lifetimeOf, type FreshnessRules, type FreshnessState } from './freshness.js';

/**
 * What a shared cache may store and how a stored reply is kept and updated: RFC 9111 section 3
 * (storing), 3.1 (which header fields), 3.2 and 4.3.4 (updating from a 304), 3.5 (requests with
 * Authorization). Pure functions.
 */

/** A reply as a cache keeps it: the bytes to send, the header fields that belong to it, its freshness. */
export interface StoredReply extends FreshnessState {
  readonly kind: 'reply';
  readonly status: number;
  /** Lower-case names; no hop-by-hop fields, no Age (recomputed), no Content-Length (written from the body). */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** Text bodies (JSON included) stay strings: node writes a string body in one write with its head, a Buffer in two. */
  readonly body: string | Buffer;
  /** When it was received (response_time, epoch ms): Age counts from here. */
  readonly storedAt: number;
  /** The request's values of the fields the reply's Vary names (null: the request lacked it); absent without Vary. */
  readonly vary?: Readonly<Record<string, string | null>>;
}

/**
 * The entry at a key whose replies vary on request fields (RFC 9111 section 4.1): which fields,
 * and the generation of its variants. Each variant is stored under `<key>#v<id>:<hash of the
 * values>`; replacing or invalidating the key drops the marker, which orphans every variant at
 * once (no scan), and a new marker gets a new id.
 */
export interface VariantsMarker {
  readonly kind: 'variants';
  readonly names: readonly string[];
  readonly id: string;
  /** Until when (epoch ms) the store keeps it: a marker is never given a shorter life than it has. */
  readonly until?: number;
}

/** The request as far as storing is concerned. */
export interface StoringRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, FieldValue>>;
}

/**
 * Fields never stored (section 3.1): hop-by-hop ones, those only a proxy consumes, and what
 * this cache writes itself per exchange. Surrogate-Control is addressed to this cache and is not
 * passed on (Edge Architecture 1.0).
 */
const NOT_STORED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer',
  'proxy-authenticate', 'proxy-authentication-info', 'proxy-authorization',
  'age', 'content-length', 'x-request-id', 'x-cache', 'surrogate-control',
]);

/** Fields a 304 does not replace (section 3.2: they describe the stored representation's bytes, or identify it). */
const KEPT_ON_UPDATE = new Set(['content-length', 'content-encoding', 'content-md5', 'content-range', 'etag']);

/**
 * Statuses this cache understands (section 3, must-understand in section 5.2.2.3): a reply with
 * `must-understand` and any other status is not stored. 206 is never stored (no range assembly).
 */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414, 421, 451, 500, 501, 502, 503, 504]);

/**
 * Store `reply` (to `req`, sent at `requestTime`, received at `responseTime`) or say why not.
 * Not stored: a method other than GET; `no-store` in the request or reply (or Surrogate-Control);
 * `private` (qualified or not); a request with Authorization unless the reply says `public`,
 * `s-maxage` or `must-revalidate` (section 3.5); `Vary: *`; 206, 1xx, 304, and an unknown status
 * with `must-understand`; a reply that is neither fresh nor revalidatable (no ETag or
 * Last-Modified); a streamed body; and `Set-Cookie` unless the reply stated its own lifetime
 * (a deliberate narrowing: a route's fallback ttl never shares one client's cookie with others).
 */
export function toStored(req: StoringRequest, reply: Reply, rules: FreshnessRules, requestTime: number, responseTime: number): StoredReply | string {
  if (req.method !== 'GET') return `method ${req.method}`;
  if (isStream(reply.body)) return 'streamed body';
  const status = reply.status;
  if (status < 200 || status === 206 || status === 304) return `status ${status}`;
  const headers = lowerCased(reply.headers);
  const cc = parseDirectives(headers['cache-control']);
  // Surrogate-Control addressed to this cache takes precedence over Cache-Control (Edge Architecture 1.0, section 2.2).
  const governing = surrogateDirectives(headers['surrogate-control']);
  const own = governing.size > 0 ? governing : cc;
  if (parseDirectives(req.headers['cache-control']).has('no-store')) return 'request no-store';
  if (own.has('no-store')) return 'no-store';
  if (own.has('private')) return 'private';
  if (req.headers['authorization'] !== undefined && !(cc.has('public') || cc.has('s-maxage') || cc.has('must-revalidate'))) return 'Authorization';
  if (cc.has('must-understand') && !UNDERSTOOD.has(status)) return `must-understand with status ${status}`;
  const names = varyNames(headers['vary']);
  if (names[0] === '*') return 'Vary: *';

  const life = lifetimeOf(status, headers, rules, requestTime, responseTime);
  if (!life.explicit && !life.fallback) {
    // Neither the reply nor the route gives it a lifetime: only a 200 with a validator is worth keeping, to revalidate.
    if (status !== 200 || !hasValidator(headers)) return `status ${status} without a stated lifetime`;
  }
  if (headers['set-cookie'] !== undefined && !life.explicit) return 'Set-Cookie';
  if (life.freshUntil <= responseTime && !hasValidator(headers) && life.staleIfError === 0 && life.staleWhileRevalidate === 0) return 'stale on arrival without a validator';

  const { payload, type } = encodeBody(reply);
  const stored: Record<string, string | readonly string[]> = {};
  const listed = fieldTokens(headers['connection']);
  for (const name in headers) {
    if (NOT_STORED.has(name) || listed.has(name)) continue;
    stored[name] = headers[name] as string | readonly string[];
  }
  if (stored['content-type'] === undefined && type !== undefined) stored['content-type'] = type;
  // A recipient with a clock adds Date to a reply it caches without one (RFC 9110 section 6.6.1): hits keep it.
  if (stored['date'] === undefined) stored['date'] = new Date(responseTime).toUTCString();
  return {
    kind: 'reply', status, headers: stored, body: payload ?? '', storedAt: responseTime,
    freshUntil: life.freshUntil, initialAge: life.initialAge, staleWhileRevalidate: life.staleWhileRevalidate, staleIfError: life.staleIfError,
    noCache: life.noCache, ...(names.length === 0 ? {} : { vary: varyValues(names, req.headers) }),
  };
}

/**
 * The stored reply freshened by a 304 to a revalidation (section 4.3.4): the 304's fields replace
 * the stored ones (except those that describe the stored bytes), freshness is computed again
 * from the merged fields with the 304's Age, and the body stays.
 */
export function updated(entry: StoredReply, notModified: Reply, rules: FreshnessRules, requestTime: number, responseTime: number): StoredReply {
  const fresh = lowerCased(notModified.headers);
  const listed = fieldTokens(fresh['connection']);
  const headers: Record<string, string | readonly string[]> = { ...entry.headers };
  for (const name in fresh) {
    if (NOT_STORED.has(name) || KEPT_ON_UPDATE.has(name) || listed.has(name)) continue;
    headers[name] = fresh[name] as string | readonly string[];
  }
  const life = lifetimeOf(entry.status, { ...headers, age: fresh['age'], 'surrogate-control': fresh['surrogate-control'] }, rules, requestTime, responseTime);
  return {
    ...entry, headers, storedAt: responseTime,
    freshUntil: life.freshUntil, initialAge: life.initialAge, staleWhileRevalidate: life.staleWhileRevalidate, staleIfError: life.staleIfError, noCache: life.noCache,
  };
}

/** The request's values of the fields a reply varies on (section 4.1), combined as one string each. */
export function varyValues(names: readonly string[], headers: Readonly<Record<string, FieldValue>>): Record<string, string | null> {
  const out: Record<string, string | null> = Object.create(null) as Record<string, string | null>;
  for (const name of names) out[name] = normalized(headers[name]);
  return out;
}

/** Whether a request presents the same values as the one a stored reply was selected for (section 4.1). */
export function varyMatches(stored: Readonly<Record<string, string | null>> | undefined, headers: Readonly<Record<string, FieldValue>>): boolean {
  if (stored === undefined) return true;
  for (const name in stored) if (stored[name] !== normalized(headers[name])) return false;
  return true;
}

/** A stored reply as a reply to write (the body is already bytes). */
export function fromStored(entry: StoredReply): Reply {
  return { status: entry.status, headers: entry.headers, body: entry.status === 204 || entry.status === 304 ? undefined : entry.body };
}

/** How long (ms) a store keeps an entry: while fresh, then while a stale window may use it, and at least `keep` when it can be revalidated. */
export function retention(entry: StoredReply, now: number, keep: number): number {
  const useful = entry.freshUntil - now + Math.max(entry.staleWhileRevalidate, entry.staleIfError);
  return Math.max(1, hasValidator(entry.headers) ? Math.max(useful, keep) : useful);
}

/** Narrow what a store returned to a stored reply (a value an actor put under the same key is not one). */
export function isStoredReply(value: unknown): value is StoredReply {
  if (value === null || typeof value !== 'object' || (value as { kind?: unknown }).kind !== 'reply') return false;
  const v = value as Partial<Record<keyof StoredReply, unknown>>;
  return (typeof v.body === 'string' || Buffer.isBuffer(v.body)) && typeof v.status === 'number' && typeof v.freshUntil === 'number'
    && typeof v.storedAt === 'number' && typeof v.initialAge === 'number' && v.headers !== null && typeof v.headers === 'object';
}

export function isVariantsMarker(value: unknown): value is VariantsMarker {
  if (value === null || typeof value !== 'object' || (value as { kind?: unknown }).kind !== 'variants') return false;
  const v = value as Partial<Record<keyof VariantsMarker, unknown>>;
  return typeof v.id === 'string' && Array.isArray(v.names) && v.names.every((n) => typeof n === 'string');
}

export function hasValidator(headers: Readonly<Record<string, FieldValue>>): boolean {
  return headers['etag'] !== undefined || headers['last-modified'] !== undefined;
}

/** Header fields with lower-case names (an actor may write `Cache-Control`; node and undici already give lower case). */
export function lowerCased(headers: Readonly<Record<string, string | readonly string[]>>): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) out[name.toLowerCase()] = value;
  }
  return out;
}

function normalized(value: FieldValue): string | null {
  const text = fieldText(value);
  return text === undefined ? null : text.trim().replace(/\s*,\s*/g, ', ');
}


function isStream(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !Buffer.isBuffer(body) && typeof (body as { pipe?: unknown }).pipe === 'function';
}
