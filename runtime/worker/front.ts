import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ActorRequest } from '../../actors/index.js';
import type { Config } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Pool } from '../pool/pool.js';
import type { HttpUpstream } from '../resources/http.js';
import { ClientAbortedError, hasBody, parseBody, readBody } from './body.js';
import { RequestIds } from './request-id.js';
import { NO_HEADERS, toReply, writeError, writeReply } from './responses.js';
import { forward } from './proxy.js';
import { paramsFor, Router, type CompiledRoute } from './router.js';

const EMPTY: Readonly<Record<string, never>> = Object.freeze({});

/**
 * One generation of routing: the topology, its routes compiled, and the pools they reach. A reload
 * builds a new one and swaps it in whole; a request keeps the one it started with.
 */
export interface RoutingTable {
  readonly config: Config;
  readonly router: Router;
  readonly pools: ReadonlyMap<string, Pool>;
}

/** Compile `config`'s routes against `pools`. */
export function routingTable(config: Config, pools: ReadonlyMap<string, Pool>): RoutingTable {
  return { config, router: new Router(config.routes), pools };
}

/** What the front actor needs from its worker. */
export interface FrontDeps {
  /** The routing table in force now. */
  table(): RoutingTable;
  /** The open upstream behind an http resource (proxy routes). */
  upstream(name: string): HttpUpstream;
  /** A proxied request could not reach upstream `name` (for resource health: status, recovery log). */
  upstreamFailed(name: string, err: unknown): void;
  readonly log: Logger;
  /** True once every pool is started and until shutdown begins. */
  isReady(): boolean;
  /** True while the worker drains: responses ask clients to close their connections. */
  isDraining(): boolean;
}

/**
 * The front actor: socket -> route -> body -> pool -> reply. One instance per worker process,
 * called by node:http for every request. Health paths are answered here, before routing.
 */
export function createFrontHandler(deps: FrontDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { log } = deps;
  const ids = new RequestIds();

  return (req, res) => {
    const requestId = ids.forRequest(req.headers['x-request-id']);
    handle(req, res, requestId, deps.table()).catch((err: unknown) => fail(res, err, requestId));
  };

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, table: RoutingTable): Promise<void> {
    const { router, config } = table;
    const { live, ready } = config.http.health;
    const bodyLimit = config.http.limits.bodyBytes;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path === live) return writeReply(res, { status: 200, headers: NO_HEADERS, body: { status: 'ok' } }, requestId, method === 'HEAD');
    if (path === ready) {
      if (deps.isReady()) return writeReply(res, { status: 200, headers: NO_HEADERS, body: { status: 'ready' } }, requestId, method === 'HEAD');
      return writeError(res, new ActorrtError('ACTORRT_E_NOT_READY', deps.isDraining() ? 'shutting down' : 'starting'), requestId);
    }

    const found = router.lookup(method, path);
    if (found.kind === 'not-found') throw new ActorrtError('ACTORRT_E_NOT_FOUND', `no route for ${method} ${path}`);
    if (found.kind === 'method-not-allowed') {
      return writeError(res, new ActorrtError('ACTORRT_E_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`), requestId,
        { allow: found.allow.join(', ') });
    }

    const query = q === -1 ? EMPTY : parseQuery(url.slice(q + 1));
    let headMatches: readonly CompiledRoute[] | undefined;
    if (found.only === undefined) {
      const routable = { headers: req.headers, query };
      headMatches = found.candidates.filter((c) => c.matchesHead(routable));
      if (headMatches.length === 0) throw new ActorrtError('ACTORRT_E_NOT_FOUND', `no route for ${method} ${path} accepts this request's headers or query`);
    }

    // A proxy route that does not look at the body streams it to the upstream unread.
    const first = found.only ?? headMatches?.[0];
    if (first?.config.proxy !== undefined && !first.needsBody) return proxy(table, req, res, first, path, q === -1 ? '' : url.slice(q), found.params, requestId, undefined);

    const raw = hasBody(req) ? await readBody(req, bodyLimit) : undefined;
    const body = raw === undefined ? undefined : parseBody(raw, req.headers['content-type']);
    const route = found.only ?? headMatches?.find((c) => c.matchesBody(body));
    if (route === undefined) throw new ActorrtError('ACTORRT_E_NOT_FOUND', `no route for ${method} ${path} accepts this request's body`);
    if (route.config.proxy !== undefined) return proxy(table, req, res, route, path, q === -1 ? '' : url.slice(q), found.params, requestId, raw);

    const actorReq: ActorRequest = {
      method, path, params: paramsFor(route, found.params), query, headers: req.headers, body, requestId,
    };
    const value = await dispatch(table, route, actorReq);
    if (res.destroyed) return; // the client left while the actor worked
    // Checked when the reply goes out: a request that arrived before draining began must still
    // release its keep-alive connection, or the drain waits for the client to hang up.
    if (deps.isDraining()) res.shouldKeepAlive = false;
    writeReply(res, toReply(value), requestId, method === 'HEAD');
  }

  function proxy({ config }: RoutingTable, req: IncomingMessage, res: ServerResponse, route: CompiledRoute, path: string, search: string,
    params: Readonly<Record<string, string>>, requestId: string, body: Buffer | undefined): Promise<void> {
    const name = route.config.proxy as string;
    const resource = config.resources[name];
    const bodyLimit = config.http.limits.bodyBytes;
    if (resource?.type !== 'http') return Promise.reject(new ActorrtError('ACTORRT_E_INTERNAL', `route ${route.config.index} proxies to "${name}", which is not an http resource`));
    return forward({
      req, res, route: route.config, path, search, params: paramsFor(route, params), requestId, body, bodyLimit, closeAfter: deps.isDraining(),
    }, deps.upstream(name), resource, name).catch((err: unknown) => {
      if (err instanceof ActorrtError && err.code === 'ACTORRT_E_UPSTREAM_UNAVAILABLE') deps.upstreamFailed(name, err.cause);
      throw err;
    });
  }

  function dispatch({ pools }: RoutingTable, route: CompiledRoute, req: ActorRequest): Promise<unknown> {
    const name = route.config.pool;
    const pool = name === undefined ? undefined : pools.get(name);
    if (pool === undefined) {
      return Promise.reject(new ActorrtError('ACTORRT_E_INTERNAL', `route ${route.config.index} has no pool in this worker`));
    }
    return pool.dispatch(req, route.config.timeout ?? pool.config.timeout);
  }

  function fail(res: ServerResponse, err: unknown, requestId: string): void {
    if (err instanceof ClientAbortedError) return;
    if (deps.isDraining()) res.shouldKeepAlive = false;
    if (err instanceof ActorrtError) {
      if (err.code === 'ACTORRT_E_BODY_TOO_LARGE') res.shouldKeepAlive = false; // do not read the rest
      const headers: Record<string, string> = err.code === 'ACTORRT_E_MAILBOX_FULL' ? { 'retry-after': '1' } : {};
      writeError(res, err, requestId, headers);
      return;
    }
    log.error({ requestId, err }, 'internal error while handling a request');
    writeError(res, new ActorrtError('ACTORRT_E_INTERNAL', `internal error; report request id ${requestId}`), requestId);
  }
}

function parseQuery(qs: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(qs)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
