import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ActorRequest } from '../../actors/index.js';
import type { Config, HttpResource } from '../../config/types.js';
import { varyNames } from '../cache/cache-control.js';
import { compileInvalidation, mergeInvalidations, renderInvalidation, type Invalidation, type InvalidationPattern } from '../cache/keys.js';
import { compileRouteCache, type CacheOutcome, type CacheRequest, type FillRequest, type ResponseCache, type RouteCachePolicy } from '../cache/route-cache.js';
import { ActorrtError } from '../errors.js';
import { endWith } from '../trace/tracing.js';
import { requestLines, type Logger, type RequestLines } from '../logger.js';
import type { RequestMetrics } from '../metrics/request-metrics.js';
import { wantsOpenMetrics } from '../metrics/exposition.js';
import type { Pool } from '../pool/pool.js';
import { NO_HEADERS, toReply, type Reply } from '../reply.js';
import type { HttpUpstream } from '../resources/http.js';
import { ClientAbortedError, hasBody, parseBody, readBody } from './body.js';
import { clientResolver, type ClientAddress, type ClientResolver } from './client-address.js';
import { fetchReply, forward } from './proxy.js';
import { decodable, resolveDotSegments, routableBytes } from './path.js';
import { RequestIds } from '../request-id.js';
import { parseQuery } from './query.js';
import { writeError, writeNotModified, writeRange, writeReply, writeStored } from './responses.js';
import { SAFE_METHODS, unsafeInvalidation } from './unsafe-invalidation.js';
import { paramsFor, Router, type CompiledRoute, type RouteLookup } from './router.js';
import { AccessLog } from './access-log.js';
import { cacheResult, CLIENT_CLOSED, Exchange, upstreamEnded } from './exchange.js';

/** The query of a request without one: no prototype, as parseQuery's. */
const EMPTY: Readonly<Record<string, never>> = Object.freeze(Object.create(null) as Record<string, never>);
/** A cached or invalidating proxy route holds at most this much of an upstream reply; a larger one is streamed, not stored. */
const PROXY_BUFFER_BYTES = 8 * 1024 * 1024;

/** What a route does besides dispatching: its cache policy and what it invalidates. */
export interface RoutePolicies {
  readonly cache?: RouteCachePolicy;
  readonly invalidate?: readonly InvalidationPattern[];
}

/**
 * One generation of routing: the topology, its routes compiled with their cache policies, and
 * the pools they reach. A reload builds a new one and swaps it in whole; a request keeps the one
 * it started with.
 */
export interface RoutingTable {
  readonly config: Config;
  readonly router: Router;
  readonly pools: ReadonlyMap<string, Pool>;
  /** By route index; absent for routes without a cache or invalidation. */
  readonly policies: ReadonlyMap<number, RoutePolicies>;
  /** Some route caches: unsafe requests then invalidate what they change (RFC 9111 section 4.4). */
  readonly caching: boolean;
  /** Who a request's client is, under this topology's `http.trustProxy`. */
  readonly clients: ClientResolver;
  /** Whether finished requests are counted: metrics are served somewhere (`admin.metrics` or `http.metricsPath`). */
  readonly counting: boolean;
}

/** Compile `config`'s routes against `pools`. */
export function routingTable(config: Config, pools: ReadonlyMap<string, Pool>): RoutingTable {
  const policies = new Map<number, RoutePolicies>();
  for (const route of config.routes) {
    const cache = compileRouteCache(route, config);
    const invalidate = route.invalidate?.map(compileInvalidation);
    if (cache !== undefined || invalidate !== undefined) {
      policies.set(route.index, { ...(cache === undefined ? {} : { cache }), ...(invalidate === undefined ? {} : { invalidate }) });
    }
  }
  const caching = [...policies.values()].some((p) => p.cache !== undefined);
  const counting = config.admin.metrics !== false || config.http.metricsPath !== undefined;
  return { config, router: new Router(config.routes), pools, policies, caching, clients: clientResolver(config.http.trustProxy), counting };
}

/** What the front actor needs from its worker. */
export interface FrontDeps {
  /** The routing table in force now. */
  table(): RoutingTable;
  /** The open upstream behind an http resource (proxy routes). */
  upstream(name: string): HttpUpstream;
  /** A proxied request could not reach upstream `name` (for resource health: status, recovery log). */
  upstreamFailed(name: string, err: unknown): void;
  /** The cache step: lookups, single flight, stale serving. */
  readonly cache: ResponseCache;
  /** Remove keys from every cache, in every process of the instance; resolves once done (bounded). */
  invalidate(inv: Invalidation): Promise<void>;
  readonly log: Logger;
  /** True once every pool is started and until shutdown begins. */
  isReady(): boolean;
  /** True from the moment the instance begins to stop (leaving its load balancers, then draining): readiness says it is shutting down. */
  isStopping(): boolean;
  /** True once the drain began (no new connections are accepted): replies ask clients to close their connections. */
  isDraining(): boolean;
  /** Where finished requests are counted, when the routing table says so. */
  readonly metrics: RequestMetrics;
  /** The instance's metrics as the primary renders them (`http.metricsPath`). */
  scrape(openMetrics: boolean): Promise<{ contentType: string; body: string }>;
  /** Where access log lines go (default: stderr, buffered: requestLines). */
  readonly accessLines?: RequestLines;
}

/** One routed request: everything dispatch, the cache and the writer need. */
interface Routed {
  readonly route: CompiledRoute;
  readonly policies: RoutePolicies;
  readonly req: ActorRequest;
  /** The query string with its `?` (or ''), for proxying. */
  readonly search: string;
  /** The body as read, when it was read (proxying it again). */
  readonly raw: Buffer | undefined;
  readonly client: ClientAddress;
  readonly exchange: Exchange;
}

/**
 * The front actor, called by node:http for every request. One request's way, as steps: health
 * paths; route (which decides whether the body is needed); cache lookup; dispatch to a pool or an
 * upstream (one normalized Reply); cache store and invalidation; write. An uncached proxy route
 * skips the middle steps and streams both ways.
 */
export function createFrontHandler(deps: FrontDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { log } = deps;
  const ids = new RequestIds();
  const access = new AccessLog(deps.accessLines ?? requestLines(log, { event: 'access' }));

  const { metrics } = deps;
  return (req, res) => {
    const requestId = ids.forRequest(req.headers['x-request-id']);
    const table = deps.table();
    // Trace context, the request's span and its access log line (exchange.ts); `http.accessLog` is read per request: it changes on reload.
    const { accessLog } = table.config.http;
    const exchange = Exchange.open(req, res, requestId, table.clients, accessLog === false ? undefined : { log: access, config: accessLog });
    if (!table.counting) {
      handle(req, res, requestId, table, exchange).catch((err: unknown) => fail(res, err, requestId, exchange));
      return;
    }
    const started = performance.now();
    // One promise reaction per request, not two (.catch then .then): this is the hot path.
    handle(req, res, requestId, table, exchange).then(() => finished(metrics, req, res, exchange, (performance.now() - started) / 1000), (err: unknown) => {
      fail(res, err, requestId, exchange);
      finished(metrics, req, res, exchange, (performance.now() - started) / 1000);
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, table: RoutingTable, exchange: Exchange): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    // Dot segments resolved before routing and forwarding: a route's prefix is a boundary an upstream can rely on.
    const path = resolveDotSegments(q === -1 ? url : url.slice(0, q));
    if (path === undefined) throw new ActorrtError('ACTORRT_E_BAD_PATH', 'the request path climbs above the root with ".." segments');
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    // Every reply of a draining instance closes its connection, health answers and errors included:
    // keep-alive clients and balancers reconnect, and so find the instances that stay.
    if (deps.isDraining()) res.shouldKeepAlive = false;

    const { live, ready } = table.config.http.health;
    if (path === live || path === ready) exchange.route = path;
    if (path === live) return writeReply(res, { status: 200, headers: NO_HEADERS, body: { status: 'ok' } }, requestId, head);
    if (path === ready) {
      if (deps.isReady()) return writeReply(res, { status: 200, headers: NO_HEADERS, body: { status: 'ready' } }, requestId, head);
      return writeError(res, new ActorrtError('ACTORRT_E_NOT_READY', deps.isStopping() ? 'shutting down' : 'starting'), requestId);
    }
    if (path === table.config.http.metricsPath) {
      exchange.route = path;
      if (method !== 'GET' && !head) {
        return writeError(res, new ActorrtError('ACTORRT_E_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (the metrics)`), requestId, { allow: 'GET, HEAD' });
      }
      const out = await deps.scrape(wantsOpenMetrics(req));
      res.writeHead(200, { 'content-type': out.contentType, 'content-length': Buffer.byteLength(out.body), 'cache-control': 'no-store', 'x-request-id': requestId });
      res.end(head ? undefined : out.body);
      return;
    }

    let found = table.router.lookup(method, path);
    // The router decodes paths as UTF-8 and finds nothing for `/files/%FF`: such escaped bytes
    // reach proxy routes (which forward them as they came); a malformed escape reaches nothing.
    const bytes = found.kind === 'not-found' && path.includes('%') && !decodable(path);
    if (bytes) {
      const routable = routableBytes(path);
      if (routable === undefined) throw new ActorrtError('ACTORRT_E_BAD_PATH', 'the request path has a malformed percent-encoding');
      found = table.router.lookup(method, routable);
    }
    if (found.kind === 'not-found') throw new ActorrtError('ACTORRT_E_NOT_FOUND', `no route for ${method} ${path}`);
    if (found.kind === 'found') exchange.route = (found.only ?? found.candidates[0])?.config.match.path;
    if (found.kind === 'method-not-allowed') {
      return writeError(res, new ActorrtError('ACTORRT_E_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`), requestId,
        { allow: found.allow.join(', ') });
    }
    const query = q === -1 ? EMPTY : parseQuery(url.slice(q + 1));
    const search = q === -1 ? '' : url.slice(q);
    const candidates = found.only === undefined ? byHead(found, req, method, path, query) : undefined;
    const client = exchange.client ?? table.clients.resolve(req);

    // A proxy route that neither looks at the body nor caches streams both ways, unread.
    const first = found.only ?? candidates?.[0];
    if (first !== undefined) exchange.serving(first.config);
    if (first?.config.proxy !== undefined && !first.needsBody && !table.policies.has(first.config.index)) {
      await proxy(table, req, res, first, path, search, client, requestId, undefined, exchange);
      return invalidateStreamed(table, method, path, search, req, res);
    }

    const raw = hasBody(req) ? await readBody(req, table.config.http.limits.bodyBytes) : undefined;
    // Parsed when routing or an actor reads it; a proxied body is its upstream's to judge (a DELETE
    // on an invalidating proxy route is forwarded as it came, JSON or not, as it is when streamed).
    const routing = raw !== undefined && found.needsBody ? parseBody(raw, req.headers['content-type']) : undefined;
    const route = found.only ?? candidates?.find((c) => c.matchesBody(routing));
    if (route === undefined) throw new ActorrtError('ACTORRT_E_NOT_FOUND', `no route for ${method} ${path} accepts this request's body`);
    if (route !== first) exchange.serving(route.config);
    if (bytes && route.config.pool !== undefined) throw notText();
    const body = raw === undefined || found.needsBody || route.config.pool === undefined ? routing : parseBody(raw, req.headers['content-type']);
    const policies = table.policies.get(route.config.index);
    if (route.config.proxy !== undefined && policies === undefined) {
      await proxy(table, req, res, route, path, search, client, requestId, raw, exchange);
      return invalidateStreamed(table, method, path, search, req, res);
    }

    // HEAD on a route that lists GET but not HEAD: the actor answers a GET; the body is not sent.
    const asGet = head && route.config.pool !== undefined && route.config.match.methods?.includes('HEAD') === false;
    const actorReq: ActorRequest = {
      method: asGet ? 'GET' : method, path, params: paramsFor(route, found.params), query, headers: withoutPrototype(req.headers), body, requestId,
      ip: client.ip, protocol: client.protocol, trace: exchange.trace,
    };
    if (policies === undefined) {
      // No cache, no invalidation: the pool's value goes straight out (the common, fastest path).
      const reply = toReply(await toPool(table, route, actorReq));
      if (changesCache(table, method)) await invalidateTargets(table, path, search, req, reply);
      if (res.destroyed) return; // the client left while the actor worked
      // Checked when the reply goes out: a request that arrived before the stop began must still
      // release its keep-alive connection, or the drain waits for the client to hang up.
      if (deps.isDraining()) res.shouldKeepAlive = false;
      return writeReply(res, reply, requestId, head);
    }

    const routed: Routed = { route, policies, search, raw, client, req: actorReq, exchange };
    const keySource: CacheRequest = {
      method, path, url: search === '' ? path : path + search, params: actorReq.params, query, headers: actorReq.headers, body, hasBody: raw !== undefined && raw.length > 0,
    };
    const cached = policies.cache !== undefined && (method === 'GET' || method === 'HEAD') ? keySource : undefined;
    const lookup = cached === undefined ? undefined : exchange.cacheLookup((policies.cache as RouteCachePolicy).store);
    // A fresh entry in this process's memory answers before anything is awaited.
    const hit = cached !== undefined ? deps.cache.hit(policies.cache as RouteCachePolicy, cached) : undefined;
    if (hit !== undefined && lookup !== undefined) { cacheResult(lookup, hit); lookup.end(); }
    const outcome = hit ?? await endWith(lookup, cacheOrDispatch(table, routed, req, res, cached), cacheResult);
    if (outcome.reply.status < 400) {
      // One invalidation for the route's keys and the target's, so each crosses to the other processes (and instances) once.
      const inv = mergeInvalidations([
        policies.invalidate === undefined ? undefined : renderInvalidation(policies.invalidate, keySource),
        changesCache(table, method) ? targetInvalidation(table, path, search, req, outcome.reply) : undefined,
      ]);
      if (inv !== undefined) await deps.invalidate(inv);
    }
    if (res.destroyed) return;
    if (deps.isDraining()) res.shouldKeepAlive = false;
    const extra = outcome.state === undefined ? undefined : cacheHeaders(outcome, policies.cache);
    if (outcome.range !== undefined && outcome.entry !== undefined) writeRange(res, outcome.entry, outcome.range, requestId, head, extra ?? []);
    else if (outcome.notModified === true) writeNotModified(res, outcome.entry?.headers ?? outcome.reply.headers, requestId, extra ?? []);
    else if (outcome.entry !== undefined) writeStored(res, outcome.entry, requestId, head, extra ?? []);
    else writeReply(res, outcome.reply, requestId, head, extra);
  }

  /** The cache step around dispatch, for GET and HEAD on a cached route; dispatch alone otherwise. */
  async function cacheOrDispatch(table: RoutingTable, routed: Routed, req: IncomingMessage, res: ServerResponse,
    cached: CacheRequest | undefined): Promise<Partial<CacheOutcome> & { reply: Reply }> {
    const policy = routed.policies.cache;
    if (policy === undefined || cached === undefined) return { reply: await dispatch(table, routed, req) };
    try {
      return await deps.cache.serve(policy, cached, (how) => dispatch(table, routed, req, how));
    } catch (err) {
      if (!res.headersSent) res.setHeader('x-cache', 'MISS'); // an error reply of a cached route says so too
      throw err;
    }
  }

  /**
   * Send the request to its pool, or (cached / invalidating proxy routes) to its upstream, and
   * return the reply. `how` is a cache fill's own method and request fields.
   */
  async function dispatch(table: RoutingTable, routed: Routed, req: IncomingMessage, how?: FillRequest): Promise<Reply> {
    const { route } = routed;
    if (route.config.proxy !== undefined) {
      const name = route.config.proxy;
      const resource = httpResource(table.config, route);
      const upstream = routed.exchange.upstream(how?.method ?? req.method ?? 'GET', name, resource);
      const call = {
        req, route: route.config, path: routed.req.path, search: routed.search, client: routed.client, requestId: routed.req.requestId,
        body: routed.raw, bodyLimit: table.config.http.limits.bodyBytes, trace: upstream.trace, ...(how === undefined ? {} : { as: how }),
      };
      return upstreamEnded(upstream.span, fetchReply(call, deps.upstream(name), resource, name, PROXY_BUFFER_BYTES), (reply) => reply.status)
        .catch((err: unknown) => upstreamFailure(name, err));
    }
    const actorReq = how === undefined ? routed.req : { ...routed.req, method: how.method, headers: how.headers };
    return toReply(await toPool(table, route, actorReq));
  }

  /**
   * After a successful unsafe request, remove what the caches hold for its target and for the
   * Location / Content-Location it names on this host (RFC 9111 section 4.4). Only routes that
   * cache GET on those paths are looked at; nothing is done on an instance without caches.
   */
  async function invalidateTargets(table: RoutingTable, path: string, search: string, req: IncomingMessage, reply: Reply): Promise<void> {
    const inv = targetInvalidation(table, path, search, req, reply);
    if (inv !== undefined) await deps.invalidate(inv);
  }

  /** What invalidateTargets removes (undefined: nothing). */
  function targetInvalidation(table: RoutingTable, path: string, search: string, req: IncomingMessage, reply: Reply): Invalidation | undefined {
    if (reply.status >= 400) return undefined;
    return unsafeInvalidation(table.router, (route) => table.policies.get(route)?.cache, path + search, req.headers, reply.headers);
  }

  /** The same for a streamed proxy reply, once it is sent (its status and Location are known only then). */
  function invalidateStreamed(table: RoutingTable, method: string, path: string, search: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!changesCache(table, method)) return Promise.resolve();
    const headers: Record<string, string> = {};
    for (const name of ['location', 'content-location']) {
      const value = res.getHeader(name);
      if (typeof value === 'string') headers[name] = value;
    }
    return invalidateTargets(table, path, search, req, { status: res.statusCode, headers, body: undefined });
  }

  /** Send the request to the route's pool; resolves to what the actor returned. */
  function toPool(table: RoutingTable, route: CompiledRoute, req: ActorRequest): Promise<unknown> {
    const pool = route.config.pool === undefined ? undefined : table.pools.get(route.config.pool);
    if (pool === undefined) return Promise.reject(new ActorrtError('ACTORRT_E_INTERNAL', `route ${route.config.index} has no pool in this worker`));
    return pool.dispatch(req, route.config.timeout ?? pool.config.timeout);
  }

  function proxy({ config }: RoutingTable, req: IncomingMessage, res: ServerResponse, route: CompiledRoute, path: string, search: string,
    client: ClientAddress, requestId: string, body: Buffer | undefined, exchange: Exchange): Promise<void> {
    const name = route.config.proxy as string;
    const resource = httpResource(config, route);
    const bodyLimit = config.http.limits.bodyBytes;
    const upstream = exchange.upstream(req.method ?? 'GET', name, resource);
    return upstreamEnded(upstream.span, forward({
      req, res, route: route.config, path, search, client, requestId, body, bodyLimit, closeAfter: deps.isDraining(), trace: upstream.trace,
    }, deps.upstream(name), resource, name), () => res.statusCode).catch((err: unknown) => upstreamFailure(name, err));
  }

  function upstreamFailure(name: string, err: unknown): never {
    if (err instanceof ActorrtError && err.code === 'ACTORRT_E_UPSTREAM_UNAVAILABLE') deps.upstreamFailed(name, err.cause);
    throw err;
  }

  function fail(res: ServerResponse, err: unknown, requestId: string, exchange: Exchange): void {
    if (err instanceof ClientAbortedError) return;
    if (deps.isDraining()) res.shouldKeepAlive = false;
    if (err instanceof ActorrtError) {
      exchange.failure = err.code;
      if (err.code === 'ACTORRT_E_BODY_TOO_LARGE') res.shouldKeepAlive = false; // do not read the rest
      const headers: Record<string, string> = err.code === 'ACTORRT_E_MAILBOX_FULL' ? { 'retry-after': '1' } : {};
      writeError(res, err, requestId, headers);
      return;
    }
    log.error({ requestId, traceId: exchange.trace.traceId, err }, 'internal error while handling a request');
    writeError(res, new ActorrtError('ACTORRT_E_INTERNAL', `internal error; report request id ${requestId}`), requestId);
  }
}

/** An actor's params are text: escaped bytes that are not UTF-8 cannot reach one. */
function notText(): ActorrtError {
  return new ActorrtError('ACTORRT_E_BAD_PATH', 'the request path has a malformed percent-encoding: escaped bytes that are not UTF-8 (only proxy routes take them)');
}

/** The http resource a proxy route forwards to (validated at load: anything else is an actorrt bug). */
export function httpResource(config: Config, route: CompiledRoute): HttpResource {
  const name = route.config.proxy as string;
  const resource = config.resources[name];
  if (resource?.type !== 'http') throw new ActorrtError('ACTORRT_E_INTERNAL', `route ${route.config.index} proxies to "${name}", which is not an http resource`);
  return resource;
}

/**
 * Whether a `method` request may make stored replies stale (RFC 9111 section 4.4): an unsafe
 * method on an instance that caches. Checked without awaiting: a hit must not pay a turn for it.
 */
function changesCache(table: RoutingTable, method: string): boolean {
  return table.caching && !SAFE_METHODS.has(method);
}

/** The routes of a slot whose header and query conditions this request meets. */
function byHead(found: Extract<RouteLookup, { kind: 'found' }>, req: IncomingMessage, method: string, path: string,
  query: Readonly<Record<string, string | string[]>>): readonly CompiledRoute[] {
  const routable = { headers: req.headers, query };
  const matches = found.candidates.filter((c) => c.matchesHead(routable));
  if (matches.length === 0) throw new ActorrtError('ACTORRT_E_NOT_FOUND', `no route for ${method} ${path} accepts this request's headers or query`);
  return matches;
}

/** X-Cache, Age (for stored replies) and Vary (when the key varies on request headers), as name / value pairs. */
function cacheHeaders(outcome: Partial<CacheOutcome>, policy: RouteCachePolicy | undefined): string[] {
  const out = ['x-cache', outcome.state ?? 'MISS'];
  if (outcome.age !== undefined) out.push('age', String(outcome.age));
  if (policy !== undefined && policy.vary.length > 0) {
    // The route's vary headers and the reply's own Vary, as one field.
    const own = outcome.entry?.headers['vary'] ?? outcome.reply?.headers['vary'] ?? outcome.reply?.headers['Vary'];
    const names = new Set([...varyNames(own), ...policy.vary]);
    out.push('vary', [...names].join(', '));
  }
  return out;
}

/**
 * node:http's headers object with its prototype removed, in place, so that an inline actor reads
 * `req.headers.constructor` as undefined, as an isolated one does (wire.ts) and as it reads the
 * query and params. In place because a copy costs ~1.5 us a request and this ~0.2 us; node:http
 * only adds to the object and reads it by name. (node:http itself drops a `__proto__` header.)
 */
function withoutPrototype(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  Object.setPrototypeOf(headers, null);
  return headers;
}

/**
 * Count a finished request: its status (499 when the client left before the response ended, as
 * nginx logs it), and what its pool or upstream did. Runs once the response is written: a streamed
 * proxy reply once its last byte is.
 */
function finished(metrics: RequestMetrics, req: IncomingMessage, res: ServerResponse, exchange: Exchange, seconds: number): void {
  const status = res.writableEnded ? res.statusCode : CLIENT_CLOSED;
  metrics.request(req.method ?? 'GET', exchange.route ?? '', status, exchange.target, seconds);
  const { failure, target } = exchange;
  if (exchange.proxied) {
    const upstreamFailed = failure !== undefined && failure.startsWith('ACTORRT_E_UPSTREAM_');
    metrics.upstream(target, upstreamFailed ? 0 : status, seconds);
    if (upstreamFailed) metrics.upstreamError(target, failure);
  } else if (failure === 'ACTORRT_E_MAILBOX_FULL') {
    metrics.rejected(target);
  } else if (failure === 'ACTORRT_E_TIMEOUT') {
    metrics.timedOut(target);
  }
}
