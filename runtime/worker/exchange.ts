import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Span } from '@opentelemetry/api';
import type { AccessLogConfig, HttpResource, RouteConfig } from '../../config/types.js';
import { endWith, openSpan, SpanKind, SpanStatusCode, tracer, type Opened } from '../trace/tracing.js';
import { childTrace, parseTraceparent, type Trace } from '../trace/trace-context.js';
import { methodLabel } from '../http-method.js';
import type { AccessLog } from './access-log.js';
import type { ClientAddress, ClientResolver } from './client-address.js';

/** nginx's status for a client that closed the connection before a status was sent. */
export const CLIENT_CLOSED = 499;

/**
 * One request's observation: its W3C trace (incoming `traceparent` / `tracestate`, or a new
 * trace), its OpenTelemetry SERVER span when an SDK is registered, and its access log line when
 * `http.accessLog` is on. Both are finished when the response is done or the client leaves.
 * Without an SDK and without the access log, this is the trace alone: no listener, no clock read.
 */
export class Exchange {
  /** The matched route's path pattern, once routed (or the health / metrics path answered). */
  route: string | undefined;
  /** The pool or the upstream (http resource) of the route, once routed ('' before). */
  target = '';
  /** Whether the route proxies to `target`. */
  proxied = false;
  /** Set when the request failed: its code (metrics count upstream failures, rejections and timeouts by it). */
  failure: string | undefined;

  private constructor(readonly trace: Trace, private readonly span: Span | undefined,
    /** The client, resolved at arrival when the span or the access log needs it (the socket may be gone at the end). */
    readonly client: ClientAddress | undefined) {}

  /** Open the exchange for `req` (at its arrival); `access` is the access log when it is on. */
  static open(req: IncomingMessage, res: ServerResponse, requestId: string, clients: ClientResolver,
    access: { readonly log: AccessLog; readonly config: AccessLogConfig } | undefined): Exchange {
    const headers = req.headers;
    const parent = headers.traceparent === undefined ? undefined : parseTraceparent(headers.traceparent, headers.tracestate);
    const traced = tracer() !== undefined;
    if (!traced && access === undefined) return new Exchange(childTrace(parent), undefined, undefined);
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const opened = traced ? openSpan(method, SpanKind.SERVER, parent, serverAttributes(req, method, path, requestId)) : { trace: childTrace(parent), span: undefined };
    const exchange = new Exchange(opened.trace, opened.span, clients.resolve(req));
    const started = performance.now();
    const socket = req.socket;
    const written = socket.bytesWritten;
    res.once('close', () => exchange.finish(res, socket, method, path, requestId, started, written, headers['user-agent'], access));
    return exchange;
  }

  /** The route that takes the request: its pattern and what serves it. */
  serving(route: RouteConfig): void {
    this.route = route.match.path;
    this.target = route.pool ?? route.proxy ?? '';
    this.proxied = route.proxy !== undefined;
  }

  /** The span of a cache lookup on store `store`, a child of the request's (undefined without an SDK); end it with cacheResult. */
  cacheLookup(store: string): Span | undefined {
    return this.span === undefined ? undefined : openSpan(`cache ${store}`, SpanKind.INTERNAL, this.trace.asParent(), { 'actorrt.cache.store': store }).span;
  }

  /**
   * The CLIENT span of a call to upstream `name` (OpenTelemetry HTTP client conventions) and the
   * trace the call is sent with: its traceparent names this span, or the request's own without an SDK.
   */
  upstream(method: string, name: string, resource: HttpResource): Opened {
    if (this.span === undefined) return { trace: this.trace, span: undefined };
    return openSpan(method, SpanKind.CLIENT, this.trace.asParent(), upstreamAttributes(method, name, resource));
  }

  private finish(res: ServerResponse, socket: Socket, method: string, path: string, requestId: string, started: number, written: number,
    userAgent: string | undefined, access: { readonly log: AccessLog; readonly config: AccessLogConfig } | undefined): void {
    const aborted = !res.writableFinished;
    const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
    const span = this.span;
    if (span !== undefined) {
      if (this.route !== undefined) {
        span.updateName(`${method} ${this.route}`);
        span.setAttribute('http.route', this.route);
      }
      if (this.client !== undefined) span.setAttribute('client.address', this.client.ip);
      if (res.headersSent) httpStatus(span, res.statusCode, SpanKind.SERVER);
      if (aborted) span.setAttribute('error.type', 'aborted');
      span.end();
    }
    if (access === undefined) return;
    access.log.write({
      method, route: this.route, path, status, durationMs: performance.now() - started, bytes: socket.bytesWritten - written, requestId,
      client: this.client?.ip ?? '', traceId: this.trace.traceId, aborted, userAgent,
    }, access.config);
  }
}

/** The SERVER span's attributes at the request's start (OpenTelemetry HTTP server conventions). */
function serverAttributes(req: IncomingMessage, method: string, path: string, requestId: string): Record<string, string | number> {
  const label = methodLabel(method);
  const attributes: Record<string, string | number> = {
    'http.request.method': label,
    'url.path': path,
    'url.scheme': 'encrypted' in req.socket ? 'https' : 'http',
    'network.protocol.version': req.httpVersion,
    'actorrt.request_id': requestId,
  };
  if (label !== method) attributes['http.request.method_original'] = method;
  const port = req.socket.localPort;
  if (port !== undefined) attributes['server.port'] = port;
  const agent = req.headers['user-agent'];
  if (agent !== undefined) attributes['user_agent.original'] = agent;
  return attributes;
}

/** The CLIENT span's attributes of an upstream call: `server.address` / `server.port` when the resource has one origin (with several, undici's balancer picks one unseen). */
function upstreamAttributes(method: string, name: string, resource: HttpResource): Record<string, string | number> {
  const attributes: Record<string, string | number> = { 'http.request.method': methodLabel(method), 'actorrt.upstream': name };
  const [only, ...others] = resource.origins;
  if (only !== undefined && others.length === 0) {
    const url = new URL(only);
    attributes['server.address'] = url.hostname;
    attributes['server.port'] = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  }
  return attributes;
}

/**
 * Record an HTTP status on `span`: a 5xx is an error on both sides, a 4xx only on a CLIENT span
 * (OpenTelemetry HTTP conventions: a server answering 4xx did its job); `error.type` is the status.
 */
export function httpStatus(span: Span, status: number, kind: SpanKind): void {
  span.setAttribute('http.response.status_code', status);
  if (status >= 500 || (status >= 400 && kind === SpanKind.CLIENT)) {
    span.setAttribute('error.type', String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
}

/** End a cache lookup's span with what the lookup found (`hit`, `miss`, `stale`, `revalidated`, `bypass`). */
export function cacheResult(span: Span, outcome: { readonly state?: string | undefined }): void {
  span.setAttribute('actorrt.cache.result', (outcome.state ?? 'MISS').toLowerCase());
}

/** End an upstream call's span once `call` settles: with the reply's status, or failed. */
export function upstreamEnded<T>(span: Span | undefined, call: Promise<T>, status: (value: T) => number): Promise<T> {
  return endWith(span, call, (s, value) => httpStatus(s, status(value), SpanKind.CLIENT));
}
