import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { start as startActorSystem, stop as stopActorSystem, type Ref } from 'nact';
import type { Config } from '../../config/types.js';
import { serveEndpoint, type Endpoint } from '../channel/endpoint.js';
import { ActorrtError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { Pool } from '../pool/pool.js';
import { buildPools, closePools, escalateToPrimary, markDown, send, serveRole } from '../process-role.js';
import type { StartMessage } from '../protocol.js';
import { Resources, resourcesFor } from '../resources/resources.js';
import { createFrontHandler } from './front.js';

/**
 * A front worker: opens its resources, runs every inline pool as nact actors and serves HTTP on
 * the shared port. It reports ready only after every resource is open and every pool has started; it stops when the primary says so (or
 * disappears), draining in-flight requests first.
 */
const log = createLogger('worker');
let pools = new Map<string, Pool>();
let resources: Resources | undefined;
let server: Server | undefined;
let endpoint: Endpoint | undefined;
let exitCode = 0;
let system: Ref<never> | undefined;
let phase: 'booting' | 'ready' | 'draining' = 'booting';

async function boot(msg: StartMessage): Promise<void> {
  const { config } = msg;
  system = startActorSystem();
  const inline = Object.values(config.pools).filter((p) => p.processes === undefined);
  resources = await Resources.open(config, resourcesFor(config, inline, true), log, (change) => send({ type: 'resource', ...change }));
  pools = await buildPools({
    config, local: inline, endpoints: msg.endpoints, log, system, resources,
    onEscalate: (name, reason) => escalateToPrimary(name, reason, shutdown),
  });
  for (const [name, reason] of Object.entries(msg.down)) markDown(pools, name, reason);
  if (inline.some((p) => msg.endpoints[p.name] !== undefined)) {
    // Isolated pools may ask inline ones: serve them to the pool processes.
    endpoint = await serveEndpoint(msg.socket, new Map(inline.map((p) => [p.name, pools.get(p.name) as Pool])), log);
  }
  server = listen(config, resources, msg.portOverride);
  await new Promise<void>((resolve, reject) => {
    (server as Server).once('listening', resolve).once('error', reject);
  });
  phase = 'ready';
  const { port } = (server.address() as AddressInfo);
  log.info({ port, pools: [...pools.keys()] }, 'worker ready');
  send({ type: 'ready', port, pools: [...pools.keys()] });
}

function listen(config: Config, open: Resources, portOverride: number | undefined): Server {
  const { limits } = config.http;
  const s = createServer({
    requestTimeout: limits.requestTimeout,
    headersTimeout: limits.headersTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeout),
  }, createFrontHandler({
    config,
    pools,
    upstream: (name) => open.upstream(name),
    upstreamFailed: (name, err) => open.failed(name, err),
    log,
    isReady: () => phase === 'ready',
    isDraining: () => phase === 'draining',
  }));
  s.maxConnections = limits.maxConnections;
  s.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log.debug({ err }, 'client error');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const error = clientErrorFor(err.code);
    const body = JSON.stringify({ error: { code: error.code, message: error.message } });
    socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  s.listen(portOverride ?? config.http.port, config.http.host);
  return s;
}

/** What a connection-level failure (before a request exists) is answered with. */
function clientErrorFor(code: string | undefined): ActorrtError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ActorrtError('ACTORRT_E_REQUEST_TIMEOUT', 'the request was not received in time');
  if (code === 'HPE_HEADER_OVERFLOW') return new ActorrtError('ACTORRT_E_HEADERS_TOO_LARGE', 'the request headers are too large');
  return new ActorrtError('ACTORRT_E_BAD_REQUEST', 'the request is not valid HTTP');
}

/** Stop accepting, answer what is in flight (closing keep-alive connections), stop pools in reverse order. */
async function shutdown(timeout: number, code = 0): Promise<void> {
  if (code !== 0) exitCode = code; // an escalation during a drain still exits non-zero
  if (phase === 'draining') return;
  phase = 'draining';
  const started = Date.now();
  if (server !== undefined) {
    const closed = new Promise<void>((resolve) => (server as Server).close(() => resolve()));
    server.closeIdleConnections();
    // Connections that become idle while draining are closed by `Connection: close` on their last response.
    await Promise.race([closed, sleep(timeout, undefined, { ref: false })]);
    server.closeAllConnections();
  }
  await closePools(pools, Math.max(0, timeout - (Date.now() - started)));
  await endpoint?.close();
  await resources?.close();
  if (system !== undefined) stopActorSystem(system);
  log.info({ exitCode }, 'worker stopped');
  process.exit(exitCode);
}

serveRole<StartMessage>(log, {
  startType: 'start',
  start: boot,
  poolDown: (pool, reason) => markDown(pools, pool, reason),
  shutdown,
});
