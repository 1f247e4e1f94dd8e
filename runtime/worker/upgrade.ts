import { ServerResponse, type IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { fieldTokens } from '../cache/cache-control.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { RequestIds } from '../request-id.js';
import type { HttpUpstream } from '../resources/http.js';
import { hasBody } from './body.js';
import { httpResource, type RoutingTable } from './front.js';
import { parseQuery } from './query.js';
import { resolveDotSegments } from './path.js';
import { forwardedHeaders, targetPath, upstreamError } from './proxy.js';
import { writeError } from './responses.js';
import { paramsFor, type CompiledRoute } from './router.js';

/**
 * TCP keep-alive on both sockets of a tunnel: a peer that vanished without a FIN (a laptop
 * closed, a NAT that forgot the flow) is found by the kernel instead of holding its slot of
 * `http.limits.maxConnections` for ever. Tunnels have no idle timeout of their own: WebSocket
 * applications ping when they want one.
 */
const TUNNEL_KEEPALIVE_MS = 60_000;
/**
 * What a client may send after its upgrade request before the upstream has switched (a WebSocket
 * client may send frames at once); it is kept, in order, for the upstream. Past this, reading
 * pauses until the tunnel is open.
 */
const EARLY_BYTES = 64 * 1024;
/** How long a connection answered and ended by us waits for the client to close its side before it is destroyed. */
const LINGER_MS = 5000;

/** Headers that describe one connection, not the message (RFC 9110 section 7.6.1); never relayed as they are. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade']);

/** What the upgrade relay needs from its worker (the front actor's dependencies, and the front actor itself). */
export interface UpgradeDeps {
  table(): RoutingTable;
  upstream(name: string): HttpUpstream;
  upstreamFailed(name: string, err: unknown): void;
  /** The front handler: an upgrade no route relays is served as the plain HTTP/1.1 request it also is. */
  serve(req: IncomingMessage, res: ServerResponse): void;
  isDraining(): boolean;
  readonly log: Logger;
}

/**
 * The connections a worker's server handed over to 'upgrade' events (handshakes in progress,
 * open tunnels, plain requests answered on them). node:http no longer tracks them: its
 * closeAllConnections() never reaches them, though the listening socket's close still waits for
 * them. A drain that reaches its deadline cuts them here.
 */
export class Upgrades {
  private readonly live = new Set<() => void>();
  private cutting = false;

  /** Hold a connection until `release`; cut at once (false) when the drain deadline has passed. */
  hold(cut: () => void): boolean {
    if (this.cutting) {
      cut();
      return false;
    }
    this.live.add(cut);
    return true;
  }

  release(cut: () => void): void {
    this.live.delete(cut);
  }

  /** Connections held now. */
  get size(): number {
    return this.live.size;
  }

  /** Destroy every connection held, and any handed over from now on; returns how many were cut. */
  cutAll(): number {
    this.cutting = true;
    const cuts = [...this.live];
    this.live.clear();
    for (const cut of cuts) cut();
    return cuts.length;
  }
}

/** How an upgrade request is answered. */
type Decision =
  | { readonly kind: 'relay'; readonly route: CompiledRoute; readonly path: string; readonly search: string; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: 'refuse'; readonly error: ActorrtError; readonly headers?: Record<string, string> }
  | { readonly kind: 'serve' };

/**
 * The server's 'upgrade' listener. The request is routed like any other (method, path after
 * dot-segment resolution, header and query conditions): on a proxy route the upgrade is relayed
 * to the upstream through undici and, once it answers 101, bytes are tunnelled both ways; an
 * upstream that does not switch has its answer relayed and the connection closed. Anything else
 * gets an HTTP answer on the raw connection, which is then closed (never left hanging).
 */
export function createUpgradeHandler(deps: UpgradeDeps, upgrades: Upgrades): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { log } = deps;
  const ids = new RequestIds();

  return (req, socket, head) => {
    // node removed its own listeners from the socket: an error without one would kill the worker.
    socket.on('error', (err) => log.debug({ err }, 'upgraded connection error'));
    const requestId = ids.forRequest(req.headers['x-request-id']);
    const cut = (): void => { socket.destroy(); };
    if (!upgrades.hold(cut)) return;
    socket.once('close', () => upgrades.release(cut));
    const table = deps.table();
    const decision = decide(table, req, deps.isDraining());
    if (decision.kind === 'serve') return deps.serve(req, answerOn(req, socket));
    if (decision.kind === 'refuse') return writeError(answerOn(req, socket), decision.error, requestId, decision.headers);
    relay(table, req, socket, head, decision, requestId, cut);
  };

  function relay(table: RoutingTable, req: IncomingMessage, client: Duplex, head: Buffer, to: Extract<Decision, { kind: 'relay' }>,
    requestId: string, cutClient: () => void): void {
    const name = to.route.config.proxy as string;
    const resource = httpResource(table.config, to.route);
    const upstream = deps.upstream(name);
    let controller: Dispatcher.DispatchController | undefined;
    let answer: ServerResponse | undefined;
    let tunnel: Duplex | undefined;
    // node hands the connection over paused, and a paused socket never sees its peer leave: it is
    // read meanwhile. Its end (FIN) or close means the client left (as nginx takes it): the upstream
    // call is abandoned (and its socket, if it comes).
    const early: Buffer[] = head.length > 0 ? [head] : [];
    let earlyBytes = head.length;
    const onEarly = (chunk: Buffer): void => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes >= EARLY_BYTES) client.pause();
    };
    const onClientGone = (): void => {
      client.destroy();
      controller?.abort(new Error('client closed the connection during the upgrade'));
    };
    client.on('data', onEarly).once('end', onClientGone).once('close', onClientGone);
    const stopReading = (): void => {
      client.off('data', onEarly).off('end', onClientGone).off('close', onClientGone);
      client.pause();
    };
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) { controller = c; },
      onRequestUpgrade(_c, statusCode, headers, socket) {
        stopReading();
        if (client.destroyed) return void socket.destroy();
        tunnel = socket;
        // The tunnel replaces the connection in the drain's hands: a cut now closes both ends.
        upgrades.release(cutClient);
        const cutBoth = (): void => { client.destroy(); socket.destroy(); };
        if (!upgrades.hold(cutBoth)) return;
        client.once('close', () => upgrades.release(cutBoth));
        open(client, socket, early, switchingHead(statusCode, headers, requestId));
        log.debug({ requestId, route: to.route.config.index, resource: name }, 'tunnel open');
      },
      // The upstream answered without switching (401, 403, 426, or a plain reply): relay it, then close.
      onResponseStart(c, statusCode, headers) {
        if (statusCode < 200) return; // informational (103 Early Hints): the final answer follows
        stopReading();
        if (client.destroyed) return void c.abort(new Error('client closed the connection'));
        answer = answerOn(req, client);
        answer.writeHead(statusCode, { ...endToEnd(headers), 'x-request-id': requestId });
        answer.on('drain', () => c.resume());
      },
      onResponseData(c, chunk) {
        if (client.destroyed) return void c.abort(new Error('client closed the connection'));
        if (answer?.write(chunk) === false) c.pause();
      },
      onResponseEnd() {
        answer?.end();
      },
      onResponseError(_c, err) { fail(err); },
    };
    function fail(err: unknown): void {
      stopReading();
      if (tunnel !== undefined || client.destroyed) return;
      if (answer !== undefined) return void client.destroy(); // broken off mid-body: the client must not take it as complete
      const error = upstreamError(err, name, upstream);
      if (error instanceof ActorrtError && error.code === 'ACTORRT_E_UPSTREAM_UNAVAILABLE') deps.upstreamFailed(name, error.cause);
      if (error instanceof ActorrtError) return writeError(answerOn(req, client), error, requestId);
      log.error({ requestId, err }, 'internal error while relaying an upgrade');
      writeError(answerOn(req, client), new ActorrtError('ACTORRT_E_INTERNAL', `internal error; report request id ${requestId}`), requestId);
    }
    const options: Dispatcher.DispatchOptions = {
      path: targetPath(to.route.config, to.path) + to.search,
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: forwardedHeaders(req, requestId, table.clients.resolve(req)),
      // undici writes `connection: upgrade` and this token list itself (it refuses both as plain headers).
      upgrade: req.headers.upgrade ?? 'websocket',
      body: null,
      headersTimeout: to.route.config.timeout ?? resource.headersTimeout,
    };
    try {
      upstream.dispatcher.dispatch(options, handler);
    } catch (err) {
      fail(err);
    }
  }
}

/** Route an upgrade request: relay it, refuse it, or serve it as plain HTTP/1.1 (the front actor then answers, errors included). */
function decide(table: RoutingTable, req: IncomingMessage, draining: boolean): Decision {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = resolveDotSegments(q === -1 ? url : url.slice(0, q));
  const { live, ready } = table.config.http.health;
  if (path === undefined || path === live || path === ready) return { kind: 'serve' };
  const found = table.router.lookup(req.method ?? 'GET', path);
  if (found.kind !== 'found') return { kind: 'serve' }; // 404 / 405 / 400, as for any request
  const search = q === -1 ? '' : url.slice(q);
  const query = q === -1 ? {} : parseQuery(url.slice(q + 1));
  // An upgrade request has no body to look at: routes with body conditions never take it.
  const route = found.only ?? found.candidates.find((c) => c.matchesHead({ headers: req.headers, query }) && c.matchesBody(undefined));
  if (route === undefined) return { kind: 'serve' };
  if (hasBody(req)) {
    // node hands the connection over before the body is parsed: it can be neither forwarded nor read.
    return refuse('ACTORRT_E_UPGRADE_UNSUPPORTED', `an upgrade request with a body is not relayed (${req.method ?? 'GET'} ${path}); send the upgrade without a body`);
  }
  if (route.config.proxy !== undefined) {
    // While the instance leaves its balancers (http.shutdownDelay) an upgrade is still relayed: the
    // balancer sent it here, a refusal would fail the client now (and its retry may come back here),
    // and the tunnel ends at the drain deadline like every tunnel opened before the stop.
    if (draining) return { kind: 'refuse', error: new ActorrtError('ACTORRT_E_NOT_READY', 'shutting down; connect again'), headers: { 'retry-after': '1' } };
    return { kind: 'relay', route, path, search, params: paramsFor(route, found.params) };
  }
  // A WebSocket client cannot use a plain reply (RFC 6455 section 4.1); other upgrades (h2c) fall
  // back to HTTP/1.1 when the server ignores them (RFC 9110 section 7.8), so their request is served.
  if (fieldTokens(req.headers.upgrade).has('websocket')) {
    return refuse('ACTORRT_E_UPGRADE_UNSUPPORTED', `${path} is served by pool "${route.config.pool ?? ''}", which does not take WebSocket connections; only proxy routes relay upgrades`);
  }
  return { kind: 'serve' };
}

function refuse(code: 'ACTORRT_E_UPGRADE_UNSUPPORTED', message: string): Decision {
  return { kind: 'refuse', error: new ActorrtError(code, message) };
}

/** A response written on a connection node has handed over: `Connection: close`, and the connection ends with it. */
function answerOn(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.on('error', () => {}); // the client left: the connection's own 'close' ends the relay
  res.assignSocket(socket as Socket);
  res.once('finish', () => {
    res.detachSocket(socket as Socket);
    socket.resume(); // what the client still sends is discarded, so its close is seen
    socket.end();
    // A client that never closes its side does not keep the connection (nor its slot of maxConnections).
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  });
  return res;
}

/**
 * The 101 the client is sent: the upstream's status line and headers, less those that described its
 * own connection; Upgrade and Connection are the switch itself, so they pass, and a 1xx carries no
 * Content-Length (RFC 9110 section 8.6).
 */
function switchingHead(statusCode: number, headers: IncomingHttpHeaders, requestId: string): string {
  let out = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
  for (const [name, value] of Object.entries(endToEnd(headers))) {
    if (name === 'content-length') continue;
    for (const v of Array.isArray(value) ? value : [value]) out += `${name}: ${v}\r\n`;
  }
  const upgrade = headers.upgrade;
  if (upgrade !== undefined) out += `upgrade: ${Array.isArray(upgrade) ? upgrade.join(', ') : upgrade}\r\n`;
  return `${out}connection: upgrade\r\nx-request-id: ${requestId}\r\n\r\n`;
}

/**
 * Join the client and upstream sockets: the 101 goes to the client, the bytes the client sent after
 * its headers (`early`) go upstream first, then each side is piped into the other. A side that ends (FIN)
 * ends the other's writing half; a side that fails or is destroyed destroys the other, so neither
 * socket outlives the tunnel.
 */
function open(client: Duplex, upstream: Duplex, early: readonly Buffer[], switching: string): void {
  for (const socket of [client, upstream]) {
    if (socket instanceof Socket) {
      socket.setTimeout(0); // a timeout set while the connection served plain requests no longer applies
      socket.setKeepAlive(true, TUNNEL_KEEPALIVE_MS);
      socket.setNoDelay(true);
    }
  }
  upstream.on('error', () => {}); // reported through the pipeline below; undici removed its own listeners
  client.write(switching);
  for (const chunk of early) upstream.write(chunk);
  const done = (err: Error | null | undefined): void => {
    if (err) {
      client.destroy();
      upstream.destroy();
    }
  };
  pipeline(client, upstream, done);
  pipeline(upstream, client, done);
}

/** An upstream answer's end-to-end headers (hop-by-hop ones, those its Connection header names and its x-request-id dropped). */
function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = fieldTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name === 'x-request-id') continue;
    out[name] = value;
  }
  return out;
}
