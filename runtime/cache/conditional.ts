import { fieldText, httpDate, type FieldValue } from './cache-control.js';
import type { StoredReply } from './storing.js';

/**
 * Conditional requests around a cache: answering a client's own conditional from a stored reply
 * (RFC 9111 section 4.3.2 with RFC 9110 section 13), and making the conditional request that
 * revalidates a stored reply (RFC 9111 section 4.3.1).
 */

/** Request fields that make a request conditional (or partial): never sent on a fill that will be stored for others. */
export const CONDITIONAL_FIELDS: readonly string[] = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range'];

/** This cache's device token and what it supports, as it announces them (the token Surrogate-Control directives may target). */
export const SURROGATE_CAPABILITY = 'actorrt="Surrogate/1.0"';

/** The fields a 304 carries from the reply it stands for (RFC 9110 section 15.4.5). */
const NOT_MODIFIED_FIELDS: readonly string[] = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'];

/**
 * Whether the client's conditional GET / HEAD is answered 304 from `reply` (a 200): If-None-Match
 * by weak comparison, `*` matching any; only without If-None-Match, If-Modified-Since against
 * Last-Modified (or Date). RFC 9110 section 13.2.2 gives the order.
 */
export function notModified(req: Readonly<Record<string, FieldValue>>, reply: Pick<StoredReply, 'status' | 'headers'>): boolean {
  if (reply.status !== 200) return false;
  const inm = fieldText(req['if-none-match']);
  if (inm !== undefined) {
    const etag = fieldText(reply.headers['etag']);
    if (inm.trim() === '*') return true;
    if (etag === undefined) return false;
    const own = opaque(etag);
    return entityTags(inm).some((tag) => opaque(tag) === own);
  }
  const since = httpDate(req['if-modified-since']);
  if (since === undefined) return false;
  const modified = httpDate(reply.headers['last-modified']) ?? httpDate(reply.headers['date']);
  return modified !== undefined && modified <= since;
}

/** The header fields of a 304 standing for `entry`, as name / value pairs. */
export function notModifiedFields(entry: Pick<StoredReply, 'headers'>): string[] {
  const out: string[] = [];
  for (const name of NOT_MODIFIED_FIELDS) {
    const value = entry.headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  return out;
}

/**
 * The request fields of a fill: the client's, without its own conditionals and Range (the fill's
 * answer is stored for everybody), plus this cache's Surrogate-Capability and the validators of
 * `entry` when it revalidates one.
 */
export function fillFields(client: Readonly<Record<string, FieldValue>>, entry: Pick<StoredReply, 'headers'> | undefined): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {};
  for (const name in client) {
    const value = client[name];
    if (value === undefined || name === 'range' || CONDITIONAL_FIELDS.includes(name)) continue;
    out[name] = value;
  }
  // Edge Architecture 1.0 section 2.1: say what this cache understands, so an origin may target Surrogate-Control at it (`max-age=60;actorrt`).
  const prior = fieldText(client['surrogate-capability']);
  out['surrogate-capability'] = prior === undefined ? SURROGATE_CAPABILITY : `${prior}, ${SURROGATE_CAPABILITY}`;
  if (entry !== undefined) {
    const etag = fieldText(entry.headers['etag']);
    const modified = fieldText(entry.headers['last-modified']);
    if (etag !== undefined) out['if-none-match'] = etag;
    if (modified !== undefined) out['if-modified-since'] = modified;
  }
  return out;
}

/** Whether the client's request is conditional (its answer may be a 304 that is not for others). */
export function isConditional(req: Readonly<Record<string, FieldValue>>): boolean {
  return req['if-none-match'] !== undefined || req['if-modified-since'] !== undefined;
}

/** The entity tags of an If-None-Match list (quoted strings may contain commas). */
function entityTags(list: string): string[] {
  return list.match(/(?:W\/)?"[^"]*"|[^,\s]+/g) ?? [];
}

/** An entity tag without its weakness indicator (weak comparison, RFC 9110 section 8.8.3.2). */
function opaque(tag: string): string {
  const t = tag.trim();
  return t.startsWith('W/') ? t.slice(2) : t;
}
