import type { Invalidation } from '../protocol/shapes.js';
import { parseKeyTemplate, type TemplatePart } from '../../config/key-template.js';

/** What a key template can read from a request. Header names are lower case (as node:http gives them). */
export interface KeySource {
  readonly method: string;
  readonly path: string;
  /** The path with the query string as the client sent it (`/a?b=1`): the request target of RFC 9111 section 2. */
  readonly url: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | readonly string[]>>;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body?: unknown;
}

/** A key template compiled once: renders the key of one request. */
export type KeyRenderer = (req: KeySource) => string;

/** Separates a key from its vary part, so that invalidating a key can reach its variants. */
export const VARY_SEPARATOR = '#';

/** Compile a template (validated at load: a malformed one is an actorrt bug here). */
export function compileKey(template: string): KeyRenderer {
  const parts = parseKeyTemplate(template);
  if ('error' in parts) throw new Error(`actorrt bug: key template ${JSON.stringify(template)} passed validation but ${parts.error}`);
  if (parts.every((p) => p.kind === 'text')) {
    const text = parts.map((p) => (p.kind === 'text' ? p.text : '')).join('');
    return () => text;
  }
  const render = parts.map(partRenderer);
  return (req) => {
    let out = '';
    for (const r of render) out += r(req);
    return out;
  };
}

/** The key suffix of a `vary` list: each header's value, in list order (`#accept-language=fr`). */
export function varySuffix(vary: readonly string[], headers: KeySource['headers']): string {
  let out = '';
  for (const name of vary) out += `${VARY_SEPARATOR}${name}=${text(own(headers, name))}`;
  return out;
}

/**
 * An invalidation pattern: a template, or a template with a trailing `*` (every key that starts
 * with the rendered text). Rendered per request.
 */
export interface InvalidationPattern {
  readonly render: KeyRenderer;
  readonly prefix: boolean;
}

/** Compile an `invalidate:` entry. */
export function compileInvalidation(template: string): InvalidationPattern {
  const prefix = template.endsWith('*');
  return { render: compileKey(prefix ? template.slice(0, -1) : template), prefix };
}


export type { Invalidation };

/**
 * One invalidation for several (a write's route `invalidate:` and its RFC 9111 target; undefined: none), so it
 * crosses to other processes and instances once. Keys of one may be looked for in the other's
 * stores too: dropping more than asked is safe, dropping less is not.
 */
export function mergeInvalidations(some: ReadonlyArray<Invalidation | undefined>): Invalidation | undefined {
  const invs = some.filter((i) => i !== undefined);
  if (invs.length <= 1) return invs[0];
  const everywhere = invs.some((i) => i.stores === undefined);
  return {
    keys: [...new Set(invs.flatMap((i) => i.keys))],
    prefixes: [...new Set(invs.flatMap((i) => i.prefixes))],
    ...(everywhere ? {} : { stores: [...new Set(invs.flatMap((i) => i.stores ?? []))] }),
  };
}

/** Render a route's invalidation patterns for one request. */
export function renderInvalidation(patterns: readonly InvalidationPattern[], req: KeySource): Invalidation {
  const keys: string[] = [];
  const prefixes: string[] = [];
  for (const p of patterns) (p.prefix ? prefixes : keys).push(p.render(req));
  return { keys, prefixes };
}

/** Whether `key` (possibly with a vary suffix) is removed by `inv`. */
export function invalidates(inv: Invalidation, key: string, store?: string): boolean {
  if (store !== undefined && inv.stores !== undefined && !inv.stores.includes(store)) return false;
  for (const prefix of inv.prefixes) if (key.startsWith(prefix)) return true;
  for (const k of inv.keys) if (key === k || key.startsWith(k + VARY_SEPARATOR)) return true;
  return false;
}

function partRenderer(part: TemplatePart): KeyRenderer {
  if (part.kind === 'text') return () => part.text;
  if (part.kind === 'request') return part.name === 'method' ? (req) => req.method : part.name === 'url' ? (req) => req.url : (req) => req.path;
  const { name } = part;
  switch (part.source) {
    case 'params': return (req) => own(req.params, name) ?? '';
    case 'query': return (req) => text(own(req.query, name));
    case 'headers': return (req) => text(own(req.headers, name));
    case 'body': return (req) => bodyField(req.body, name);
  }
}

function text(value: string | readonly string[] | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.join(',');
}

function bodyField(body: unknown, name: string): string {
  if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return '';
  const value = own(body as Record<string, unknown>, name);
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/**
 * The value `record` holds under `key` itself: a template's names are the user's, the objects are
 * the client's, and `{query.constructor}` must not render Object's constructor (node:http's
 * headers object has a prototype; a JSON body too).
 */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
