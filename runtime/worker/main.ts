import { createServer, STATUS_CODES, type Server } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Config } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import { createLogger } from '../logger.js';
import { actorHandlers, ChildServices } from '../child/child-services.js';
import { scrapeInstance, send, sendConnection, sendFinalMetrics, serveRole } from '../child/primary-link.js';
import { RequestMetrics } from '../metrics/request-metrics.js';
import { BOARD_FD, type ShutdownMessage, type StartMessage } from '../protocol/messages.js';
import { Board } from '../spread/board.js';
import { ConnectionSpread } from './spread.js';
import { resourcesFor } from '../resources/resources.js';
import { ResponseCache } from '../cache/route-cache.js';
import { createFrontHandler, routingTable, type FrontDeps, type RoutingTable } from './front.js';
import { createUpgradeHandler, Upgrades } from './upgrade.js';
import { RequestIds } from '../request-id.js';
import { withDeadline } from '../deadline.js';
import { flushSpans, SPAN_FLUSH_MS } from '../trace/tracing.js';

/**
 * A front worker: opens its resources, runs every inline pool as nact actors and serves HTTP on
 * the primary's listening socket. It reports ready only after every resource is open and every
 * pool has started; a reconfigure resizes its pools and swaps its routing table live; it stops
 * when the primary says so (or disappears), draining in-flight requests first.
 */
const log = createLogger('worker');
/**
 * Connections the kernel queues before a worker accepts them (capped by net.core.somaxconn). Node's
 * default, 511, overflows in a burst of 1000 new connections: the rest retry their SYN after 1 s.
 */
const LISTEN_BACKLOG = 2048;
let actors: ChildServices | undefined;
let table: RoutingTable | undefined;
let responses: ResponseCache | undefined;
let server: Server | undefined;
let spread: ConnectionSpread | undefined;
/** Connections handed over to 'upgrade' events (WebSocket tunnels): node:http no longer closes them for us. */
const upgrades = new Upgrades();
/** Request counts (the routing table says whether requests are counted: metrics can be turned on and off by a reload). */
const metrics = new RequestMetrics();
let exitCode = 0;
/**
 * booting -> ready -> draining; a stop with `http.shutdownDelay` passes through `leaving` (the
 * primary's `leave`): readiness 503, everything else served as before (see `leave`).
 */
let phase: 'booting' | 'ready' | 'leaving' | 'draining' = 'booting';
/** A `leave` that came while booting: this worker never reports ready to its balancers. */
let leaveAsked = false;

async function boot(msg: StartMessage): Promise<void> {
  const { config } = msg;
  // Isolated pools may ask inline ones (today or after a reload): the endpoint serves them to the pool processes.
  const live = await ChildServices.open(msg, {
    // A thread pool's threads open its resources themselves; the front worker opens those of its inline pools and proxies.
    log, resources: resourcesFor(config, inlinePools(config).filter((p) => p.threads === undefined), true), local: inlinePools, serves: () => true, shutdown,
  });
  actors = live;
  responses = new ResponseCache(live.caches.caches, log);
  table = routingTable(config, live.host.snapshot());
  server = listen(config, live, responses, msg.listenFd);
  await new Promise<void>((resolve, reject) => {
    (server as Server).once('listening', resolve).once('error', reject);
  });
  spread = new ConnectionSpread(new Board(BOARD_FD), msg.boardSlot, config.http.balanceConnections,
    (handle) => sendConnection({ type: 'hand-off' }, handle, (unsent) => spread?.serveHere(unsent)));
  spread.attach(server);
  if (leaveAsked) spread.leave();
  phase = leaveAsked ? 'leaving' : 'ready';
  const { port } = (server.address() as AddressInfo);
  log.info({ port, pools: [...table.pools.keys()] }, 'worker ready');
  send({ type: 'ready', port, pools: [...table.pools.keys()] });
}

/** Pools that run inside every front worker: inline, or in its threads. */
function inlinePools(config: Config): Config['pools'][string][] {
  return Object.values(config.pools).filter((p) => p.processes === undefined);
}

function listen(config: Config, live: ChildServices, cache: ResponseCache, fd: number): Server {
  const { limits } = config.http;
  const deps: FrontDeps = {
    table: () => table as RoutingTable,
    upstream: (name) => live.resources.upstream(name),
    upstreamFailed: (name, err) => live.resources.failed(name, err),
    cache,
    invalidate: live.caches.everywhere,
    log,
    isReady: () => phase === 'ready',
    isStopping: () => phase === 'leaving' || phase === 'draining',
    isDraining: () => phase === 'draining',
    metrics,
    scrape: scrapeInstance,
  };
  const front = createFrontHandler(deps);
  const s = createServer({
    requestTimeout: limits.requestTimeout,
    headersTimeout: limits.headersTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeout),
  }, front);
  // An upgraded connection stays one of the server's, so maxConnections counts open tunnels; node's
  // request, headers and keep-alive timeouts stop applying to it once it is handed over.
  s.on('upgrade', createUpgradeHandler({ ...deps, serve: front }, upgrades));
  s.maxConnections = limits.maxConnections;
  // node's headersTimeout starts with a request's first byte: a client that connects and sends
  // nothing would hold its slot (of maxConnections) forever. It gets the same deadline.
  s.on('connection', (socket: Socket) => {
    metrics.connections++;
    socket.once('close', () => { metrics.connections--; });
    const timer = setTimeout(() => { if (socket.bytesRead === 0) socket.destroy(); }, limits.headersTimeout);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
  const connectionIds = new RequestIds();
  s.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log.debug({ err }, 'client error');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const error = clientErrorFor(err.code);
    if (table?.counting === true) metrics.clientError(error.status ?? 400);
    const requestId = connectionIds.next(); // no request was parsed, so none came in: always a new one
    const body = JSON.stringify({ error: { code: error.code, message: error.message, requestId } });
    socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n\r\n${body}`);
  });
  // The socket is the primary's, bound once for the life of the instance and inherited at `fd`:
  // a worker that dies or is replaced never takes the port with it, and connections made while
  // no worker accepts wait in the backlog.
  s.listen({ fd }, LISTEN_BACKLOG); // with a descriptor, node takes the backlog only as the second argument
  return s;
}

/** What a connection-level failure (before a request exists) is answered with. */
function clientErrorFor(code: string | undefined): ActorrtError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ActorrtError('ACTORRT_E_REQUEST_TIMEOUT', 'the request was not received in time');
  if (code === 'HPE_HEADER_OVERFLOW') return new ActorrtError('ACTORRT_E_HEADERS_TOO_LARGE', 'the request headers are too large');
  return new ActorrtError('ACTORRT_E_BAD_REQUEST', 'the request is not valid HTTP');
}

/**
 * The instance is stopping and leaves its load balancers first: readiness answers 503 from now on
 * while everything else is served as before, new connections included, until the primary sends
 * `shutdown` (http.shutdownDelay later). Replies keep their connections alive meanwhile: a
 * `Connection: close` here would make a balancer that has not seen the readiness change (nginx
 * never looks) open a new connection for every request, and connections still in the kernel's
 * accept queue when the listener closes are reset under the request they carry (measured behind
 * nginx: 12 resets and 4 failed POSTs in a rolling restart, none without it).
 */
function leave(): void {
  if (phase === 'booting') leaveAsked = true;
  else if (phase === 'ready') phase = 'leaving';
  spread?.leave();
}

/**
 * Stop accepting, answer what is in flight (every reply with `Connection: close`), stop pools in
 * reverse order. Idle keep-alive connections are never closed under their clients when the
 * instance has left its balancers first (a delay, or a retire: one process leaving a running
 * instance): a request may be on its way on one at that instant, and a client cannot tell whether
 * it was processed, so it may not retry it (nginx never retries a POST). They end at their
 * keep-alive timeout, which clients are told (nginx's shorter upstream keepalive_timeout closes them
 * first), or at the drain deadline. Without a delay (development, tests) a stop closes them at once.
 */
async function shutdown(timeout: number, mode: ShutdownMessage['mode'], code = 0): Promise<void> {
  if (code !== 0) exitCode = code; // an escalation during a drain still exits non-zero
  if (phase === 'draining') return;
  const left = phase === 'leaving';
  phase = 'draining';
  spread?.leave();
  const started = Date.now();
  if (server !== undefined) {
    const s = server;
    const gentle = mode === 'retire' || left;
    const closed = new Promise<void>((resolve) => {
      if (gentle) NetServer.prototype.close.call(s, () => resolve()); // node:http's close() would also close idle connections
      else s.close(() => resolve());
    });
    if (!gentle) s.closeIdleConnections();
    // The listening socket's close waits for tunnels too: they end on their own until the deadline, then are cut.
    await withDeadline(closed, timeout);
    s.closeAllConnections();
    const cut = upgrades.cutAll();
    if (cut > 0) log.info({ connections: cut }, 'upgraded connections (tunnels) still open at the drain deadline: closed');
  }
  await actors?.close(timeout, mode, started);
  await sendFinalMetrics(handlers.metrics(handlers.loads(), handlers.caches()));
  await flushSpans(SPAN_FLUSH_MS);
  log.info({ exitCode }, 'worker stopped');
  process.exit(exitCode);
}

const handlers = actorHandlers(() => actors, () => responses?.stats() ?? [], () => metrics.snapshot());

serveRole<StartMessage>(log, {
  startType: 'start',
  start: boot,
  reconfigure: async (msg) => {
    if (phase === 'draining') return;
    await actors?.reconfigure(msg, (host) => { table = routingTable(msg.config, host.snapshot()); });
    spread?.setEnabled(msg.config.http.balanceConnections);
  },
  ...handlers,
  leave,
  adopt: (handle) => { if (spread === undefined) handle.close(); else spread.adopt(handle); },
  shutdown,
});
