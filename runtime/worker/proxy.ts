import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Reply } from '../reply.js';
import type { RequestTrace } from '../../actors/index.js';
import type { Dispatcher } from 'undici';
import type { HttpResource, RouteConfig } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import { redactUrl } from '../resources/address.js';
import { causeOf, isConnectionError } from '../resources/connection-errors.js';
import type { HttpUpstream } from '../resources/http.js';
import { ClientAbortedError, hasBody, LINGER_BYTES, tooLarge } from './body.js';
import { fieldText, fieldTokens } from '../cache/cache-control.js';
import type { ClientAddress } from './client-address.js';
import { endToEnd, HOP_BY_HOP, ReplyWriter } from './proxy-handler.js';

/** Request headers the proxy sets itself (host comes from the origin; undici does not send Expect). */
const REPLACED = new Set(['host', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']);
/**
 * Headers that claim something about the client (its address, protocol, port, host or path
 * prefix) which only a proxy in front of actorrt can vouch for: passed on from a trusted peer,
 * dropped from anyone else, who could otherwise tell the upstream what to believe. Every
 * `x-forwarded-*` header is one of them too.
 */
const CLIENT_CLAIMS = new Set(['forwarded', 'x-real-ip', 'x-client-ip', 'x-cluster-client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip',
  'front-end-https', 'x-url-scheme']);

/** One proxied request: what the front actor knows once the route is chosen. */
export interface ProxyCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: RouteConfig;
  /** The raw path (before `?`, percent-encodings as the client sent them, dot segments resolved) and the query string with its `?` (or ''). */
  readonly path: string;
  readonly search: string;
  readonly requestId: string;
  /** The client as resolved under `http.trustProxy` (client-address.ts). */
  readonly client: ClientAddress;
  /** The body when it was read (body conditions, cached routes); otherwise the request's body, if any, is streamed. */
  readonly body: Buffer | undefined;
  readonly bodyLimit: number;
  readonly closeAfter: boolean;
  /** The trace the upstream call is made in: its `traceparent` (and `tracestate`) are sent. */
  readonly trace: RequestTrace;
  /** A cache fill: this method and these request fields instead of the client's (a HEAD filled with a GET, conditionals dropped). */
  readonly as?: { readonly method: string; readonly headers: Readonly<Record<string, string | readonly string[] | undefined>> };
}

/**
 * Forward a request to an upstream with undici and stream the reply back: the request body, of
 * any method, is streamed (bounded by the body limit), hop-by-hop headers are dropped both ways,
 * x-forwarded-for / -proto / -host are set under `http.trustProxy` (forwardedHeaders) and
 * x-request-id is set. Resolves when the reply is sent;
 * rejects with a typed error (502 / 504 / 413) only while nothing has been written yet.
 */
export async function forward(call: ProxyCall, upstream: HttpUpstream, resource: HttpResource, resourceName: string): Promise<void> {
  const { req, res } = call;
  try {
    await new Promise<void>((resolve, reject) => {
      const writer = new ReplyWriter({ res, requestId: call.requestId, closeAfter: call.closeAfter, head: req.method === 'HEAD' }, resolve, reject);
      upstream.dispatcher.dispatch(requestOptions(call, resource), writer);
    });
  } catch (err) {
    // The client left (undici then fails the upstream call too): nobody is left to answer.
    if (req.socket.destroyed && !res.headersSent) throw new ClientAbortedError('client went away during the proxied request');
    throw upstreamError(err, resourceName, upstream);
  }
}

/**
 * Forward a request and read the upstream's reply into a Reply (cached and invalidating proxy
 * routes: the reply is stored, or the invalidation done, before it goes out). A body larger than
 * `bufferLimit` is not held: the Reply then carries a stream of it, which is sent but not stored.
 */
export async function fetchReply(call: Omit<ProxyCall, 'res' | 'closeAfter'>, upstream: HttpUpstream, resource: HttpResource, resourceName: string,
  bufferLimit: number): Promise<Reply> {
  const { req } = call;
  let data: Dispatcher.ResponseData<undefined>;
  try {
    data = await upstream.dispatcher.request({ ...requestOptions(call, resource), opaque: undefined });
  } catch (err) {
    if (req.socket.destroyed) throw new ClientAbortedError('client went away during the proxied request');
    throw upstreamError(err, resourceName, upstream);
  }
  const headers = endToEnd(data.headers);
  if ((call.as?.method ?? req.method) === 'HEAD' || data.statusCode === 304 || data.statusCode === 204) {
    // No body follows, whatever Content-Length says: for HEAD and 304 it is the GET's length (RFC 9110
    // sections 9.3.2, 8.6), kept as it is. Not read: undici fails such a body as too short.
    data.body.on('error', () => undefined).destroy();
    return { status: data.statusCode, headers, body: undefined };
  }
  delete headers['content-length']; // set again from the body that is written
  const chunks: Buffer[] = [];
  let size = 0;
  const body = data.body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await body.next();
      if (next.done === true) return { status: data.statusCode, headers, body: Buffer.concat(chunks) };
      chunks.push(next.value as Buffer);
      size += (next.value as Buffer).length;
      if (size > bufferLimit) break;
    }
  } catch (err) {
    throw upstreamError(err, resourceName, upstream);
  }
  // Too large to hold: send what was read and the rest as it comes.
  return { status: data.statusCode, headers, body: Readable.from(rest(chunks, body), { objectMode: false }) };
}

async function* rest(read: readonly Buffer[], more: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  yield* read;
  for (;;) {
    const next = await more.next();
    if (next.done === true) return;
    yield next.value as Buffer;
  }
}

/** What undici is asked to send upstream for `call`. */
function requestOptions(call: Omit<ProxyCall, 'res' | 'closeAfter'>, resource: HttpResource): Dispatcher.RequestOptions<undefined> {
  const { req, route } = call;
  const method = call.as?.method ?? req.method ?? 'GET';
  const headers = forwardedHeaders(req, call.requestId, call.client, call.as?.headers, call.trace);
  if (call.body !== undefined) headers['content-length'] = String(call.body.length);
  return {
    path: targetPath(route, call.path) + call.search,
    method: method as Dispatcher.HttpMethod,
    headers,
    // Whatever the method: a GET with a body (a search query) means something to its upstream
    // (RFC 9110 section 9.3.1 leaves it to the server), and nginx passes it on too.
    body: call.body ?? (hasBody(req) ? Readable.from(limited(req, call.bodyLimit), { objectMode: false }) : null),
    headersTimeout: route.timeout ?? resource.headersTimeout,
  };
}

/**
 * The headers an upstream gets for `req`: its end-to-end headers (hop-by-hop ones and those its
 * Connection header names dropped, RFC 9110 section 7.6.1), then the forwarding headers under
 * `http.trustProxy`, as `client` was resolved (client-address.ts):
 * - from a trusted peer, X-Forwarded-Proto and X-Forwarded-Host are kept as they came (set from
 *   this connection when absent) and the peer is appended to X-Forwarded-For, as each proxy of
 *   a chain does; the other headers that claim things about the client (CLIENT_CLAIMS, every
 *   x-forwarded-*) pass as they came;
 * - from anyone else, X-Forwarded-For is the peer alone, X-Forwarded-Proto and -Host say what
 *   actorrt saw (TLS or not, the Host header), and the other claims are dropped.
 * Host is left out (undici sets the origin's) and x-request-id is `requestId`. Content-Length,
 * when the client sent one, is kept: a caller that sends another body sets its own. Shared by
 * every way a request is forwarded (HTTP here, WebSocket upgrades). `headers`: a cache fill's own
 * request fields instead of the client's. With `trace`, `traceparent` is its (the upstream call's
 * span, child of the request's) and `tracestate` its (the incoming one when it was valid, else none:
 * W3C Trace Context section 3.3.1.1); without, both pass as they came.
 */
export function forwardedHeaders(req: IncomingMessage, requestId: string, client: ClientAddress,
  headers: Readonly<Record<string, string | readonly string[] | undefined>> = req.headers, trace?: RequestTrace): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connectionTokens = fieldTokens(headers.connection);
  const trusted = client.peerTrusted;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || REPLACED.has(name) || connectionTokens.has(name)) continue;
    if (!trusted && (CLIENT_CLAIMS.has(name) || name.startsWith('x-forwarded-'))) continue;
    out[name] = typeof value === 'string' ? value : [...value];
  }
  const prior = trusted ? fieldText(headers['x-forwarded-for']) : undefined;
  out['x-forwarded-for'] = prior === undefined || prior.trim() === '' ? client.peer : `${prior}, ${client.peer}`;
  const own = 'encrypted' in req.socket ? 'https' : 'http';
  const proto = trusted ? headers['x-forwarded-proto'] : undefined;
  out['x-forwarded-proto'] = fieldText(proto) ?? own;
  const host = trusted ? headers['x-forwarded-host'] ?? headers.host : headers.host;
  if (host !== undefined) out['x-forwarded-host'] = fieldText(host) as string;
  out['x-request-id'] = requestId;
  if (trace !== undefined) {
    out['traceparent'] = trace.traceparent;
    if (trace.tracestate === undefined) delete out['tracestate'];
    else out['tracestate'] = trace.tracestate;
  }
  return out;
}


/**
 * The upstream path for the raw request `path` (percent-encoded as the client sent it, dot
 * segments resolved): `rewrite` with its `:params` and `*` filled in, or the path without
 * `stripPrefix`, or the path itself. Every part taken from the request is copied byte for byte,
 * never decoded and encoded again: `%2F` and `/`, `%7E` and `~`, `+`, `%2b` and `%2B` are
 * different paths to an upstream (RFC 3986 section 2.2: a reserved character and its encoding
 * are not equivalent; section 6.2.2.1 leaves hex case to the owner of the path).
 */
export function targetPath(route: Pick<RouteConfig, 'match' | 'rewrite' | 'stripPrefix'>, path: string): string {
  if (route.rewrite !== undefined) return rewriter(route, route.rewrite)(path);
  const prefix = route.stripPrefix;
  if (prefix === undefined || !path.startsWith(prefix)) return path;
  const rest = path.slice(prefix.endsWith('/') ? prefix.length - 1 : prefix.length);
  return rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`;
}

/** Compiled rewrites, by route (a config generation's routes are frozen and live as long as it does). */
const rewriters = new WeakMap<object, (path: string) => string>();

/** A piece of a rewrite template: literal text, the raw segment at `segment`, or every raw segment `from` there on. */
type Piece = { readonly text: string } | { readonly segment: number } | { readonly from: number };

/**
 * `route.rewrite` compiled into a function of the request path. Parameters take whole segments
 * (config/route-path.ts) and the router matches segment by segment without turning `%2F` into a
 * separator, so the request's n-th segment is the pattern's n-th: a `:param` is that raw
 * segment, `*` every raw segment from its position on (a trailing slash included).
 */
function rewriter(route: Pick<RouteConfig, 'match'>, rewrite: string): (path: string) => string {
  let fn = rewriters.get(route);
  if (fn !== undefined) return fn;
  const segments = route.match.path.split('/'); // '' first, then one per segment, as a request path splits
  const pieces: Piece[] = [];
  let last = 0;
  for (const m of rewrite.matchAll(/:[A-Za-z_][A-Za-z0-9_]*|\*/g)) {
    pieces.push({ text: rewrite.slice(last, m.index) });
    // crossref.ts refuses a token the pattern lacks (indexOf -1: an empty value).
    const at = segments.indexOf(m[0]);
    pieces.push(at === -1 ? { text: '' } : m[0] === '*' ? { from: at } : { segment: at });
    last = m.index + m[0].length;
  }
  pieces.push({ text: rewrite.slice(last) });
  fn = (path) => {
    const raw = path.split('/');
    let out = '';
    for (const piece of pieces) {
      if ('text' in piece) out += piece.text;
      else if ('segment' in piece) out += raw[piece.segment] ?? '';
      else out += raw.slice(piece.from).join('/');
    }
    return out;
  };
  rewriters.set(route, fn);
  return fn;
}

/**
 * The request body as it arrives, failing past `limit` bytes. A declared oversize length fails
 * before a byte is sent; a chunked body that grows past the limit is read and discarded up to
 * LINGER_BYTES more first, as for pool routes, so the client can finish sending and read its 413.
 */
async function* limited(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  const declared = Number(req.headers['content-length'] ?? -1);
  if (declared > limit) throw tooLarge(limit);
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit + LINGER_BYTES) break;
      if (size <= limit) yield chunk;
    }
  } catch {
    throw new ClientAbortedError('client aborted the request');
  }
  if (size > limit) throw tooLarge(limit);
}

/** Map an undici failure to what the client is told. */
export function upstreamError(err: unknown, name: string, upstream: HttpUpstream): Error {
  if (err instanceof ActorrtError || err instanceof ClientAbortedError) return err;
  const code = (err as { code?: unknown }).code;
  // undici wraps a failing request body; the client's own abort or our 413 is the real story.
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof ActorrtError || cause instanceof ClientAbortedError) return cause;
  const where = `upstream "${name}" (${upstream.origins.map(redactUrl).join(', ')})`;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new ActorrtError('ACTORRT_E_UPSTREAM_TIMEOUT', `${where} did not answer in time (${String(code)})`, { cause: err });
  }
  if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return new ClientAbortedError('client aborted the request');
  }
  if (isConnectionError(err) || (typeof code === 'string' && code.startsWith('UND_ERR'))) {
    return new ActorrtError('ACTORRT_E_UPSTREAM_UNAVAILABLE', `${where} is unavailable: ${causeOf(err)}`, { cause: err });
  }
  return err as Error;
}
