import { METHODS } from 'node:http';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { parsePathPattern } from '../../config/route-path.js';
import type { HttpMethod, RouteConfig } from '../../config/types.js';

const ALL_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/**
 * What a route without `method` answers: every method node:http parses (WebDAV's PROPFIND, UPnP's
 * M-SEARCH, ...), so a proxy route forwards them as nginx does, and a cache sees them to
 * invalidate (RFC 9111 section 4.4 names any unsafe method).
 */
// find-my-way's method list is a snapshot of node's (lib/http-methods.js), a superset of node 20's.
const ANY_METHOD = METHODS.filter((m) => m !== 'CONNECT') as readonly HTTPMethod[];

/** A request as far as routing sees it. Header names are lower case (as node:http gives them). */
export interface RoutableRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly query: Readonly<Record<string, string | readonly string[]>>;
}

/** A route compiled for matching: its conditions turned into predicates. */
export interface CompiledRoute {
  readonly config: RouteConfig;
  /** Path parameter names in path order, to rename find-my-way's positional values. */
  readonly paramNames: readonly string[];
  readonly needsBody: boolean;
  /** No header, query or body condition. */
  readonly unconditional: boolean;
  /** Whether find-my-way's parameter names are already this route's (no renaming needed). */
  readonly ownsParams: boolean;
  matchesHead(req: RoutableRequest): boolean;
  matchesBody(body: unknown): boolean;
}

export type RouteLookup =
  | {
    readonly kind: 'found';
    readonly candidates: readonly CompiledRoute[];
    /** Set when the slot holds one route with no conditions: the common case, decided without filtering. */
    readonly only: CompiledRoute | undefined;
    readonly params: Readonly<Record<string, string>>;
    readonly needsBody: boolean;
  }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

interface Slot {
  readonly routes: CompiledRoute[];
  needsBody: boolean;
  only: CompiledRoute | undefined;
}

/**
 * Routes compiled once. Method and path go through find-my-way (the most specific path wins:
 * static, then `:param`, then `*`); among routes with the same method and path, the first in
 * file order whose header, query and body conditions hold is taken.
 */
export class Router {
  private readonly fmw = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true, maxParamLength: 500 });

  constructor(routes: readonly RouteConfig[]) {
    const slots = new Map<string, Slot>();
    // HEAD is answered by a path's GET routes unless some route declares HEAD for that path itself.
    const explicitHead = new Set<string>();
    for (const config of routes) {
      const pattern = parsePathPattern(config.match.path);
      if (!('error' in pattern) && config.match.methods?.includes('HEAD') === true) explicitHead.add(pattern.shape);
    }
    for (const config of routes) {
      const pattern = parsePathPattern(config.match.path);
      if ('error' in pattern) throw new Error(`actorrt bug: route path ${config.match.path} passed validation but does not parse`);
      const declared: readonly HTTPMethod[] = config.match.methods ?? ANY_METHOD;
      const methods = declared.includes('GET') && !declared.includes('HEAD') && !explicitHead.has(pattern.shape) ? [...declared, 'HEAD' as const] : declared;
      // find-my-way names params after the first route registered for a (method, shape); this
      // route may use them as they are only if that is true for every one of its methods.
      const ownsParams = methods.every((m) => {
        const first = slots.get(`${m} ${pattern.shape}`)?.routes[0];
        return first === undefined || sameNames(first.paramNames, pattern.params);
      });
      const compiled = compile(config, pattern.params, ownsParams);
      for (const method of methods) {
        // Routes whose paths differ only in parameter names share one find-my-way entry.
        const key = `${method} ${pattern.shape}`;
        let slot = slots.get(key);
        if (slot === undefined) {
          slot = { routes: [], needsBody: false, only: undefined };
          slots.set(key, slot);
          this.fmw.on(method, config.match.path, noop, slot);
        }
        slot.routes.push(compiled);
        slot.needsBody ||= compiled.needsBody;
        slot.only = slot.routes.length === 1 && compiled.unconditional ? compiled : undefined;
      }
    }
  }

  /** Find the candidate routes for a method and a path (without query string). */
  lookup(method: string, path: string): RouteLookup {
    const found = this.fmw.find(method as HttpMethod, path);
    if (found !== null) {
      const slot = found.store as Slot;
      return { kind: 'found', candidates: slot.routes, only: slot.only, params: found.params as Record<string, string>, needsBody: slot.needsBody };
    }
    const allow = ALL_METHODS.filter((m) => m !== method && this.fmw.find(m, path) !== null);
    return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
  }
}

/** Rename find-my-way's params (named after the first route of a slot) to this route's names. */
export function paramsFor(route: CompiledRoute, found: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (route.ownsParams) return found;
  const values = Object.values(found);
  // No prototype, as find-my-way's own params objects: `req.params.constructor` is not Object's.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  route.paramNames.forEach((name, i) => { out[name] = values[i] ?? ''; });
  return out;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function compile(config: RouteConfig, paramNames: readonly string[], ownsParams: boolean): CompiledRoute {
  const headerChecks = Object.entries(config.match.header ?? {}).map(([name, pattern]) => [name, glob(pattern)] as const);
  const queryChecks = Object.entries(config.match.query ?? {}).map(([name, pattern]) => [name, glob(pattern)] as const);
  const bodyChecks = Object.entries(config.match.body ?? {});
  return {
    config,
    paramNames,
    needsBody: bodyChecks.length > 0,
    unconditional: headerChecks.length === 0 && queryChecks.length === 0 && bodyChecks.length === 0,
    ownsParams,
    matchesHead(req) {
      for (const [name, test] of headerChecks) {
        const value = own(req.headers, name);
        const first = Array.isArray(value) ? value[0] : value;
        // `content-type: application/json` should match `application/json; charset=utf-8`.
        if (first === undefined || !(test(first) || test(first.split(';')[0]?.trim() ?? ''))) return false;
      }
      for (const [name, test] of queryChecks) {
        const value = own(req.query, name);
        const first = typeof value === 'string' ? value : value?.[0];
        if (first === undefined || !test(first)) return false;
      }
      return true;
    },
    matchesBody(body) {
      if (bodyChecks.length === 0) return true;
      if (body === null || typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) return false;
      for (const [field, expected] of bodyChecks) {
        if (own(body as Record<string, unknown>, field) !== expected) return false;
      }
      return true;
    },
  };
}

/** Case-insensitive glob (`*` = any run of characters) compiled to a predicate. */
export function glob(pattern: string): (value: string) => boolean {
  if (!pattern.includes('*')) {
    const lower = pattern.toLowerCase();
    return (value) => value.toLowerCase() === lower;
  }
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  const re = new RegExp(`^${source}$`, 'i');
  return (value) => re.test(value);
}

/**
 * The value `record` holds under `key` itself, never one inherited from Object.prototype: names
 * come from clients (`?constructor=x`, a `constructor` header, a body field `toString`) and a
 * request object may or may not have a prototype (node:http's headers do).
 */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function noop(): void {}
