import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { start as startActorSystem, stop as stopActorSystem, type Ref } from 'nact';
import type { ActorContext, ActorRequest } from '../../actors/index.js';
import type { Config } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import { createLogger } from '../logger.js';
import { loadActor } from '../pool/actor-loader.js';
import { InlinePool } from '../pool/inline-pool.js';
import { EXIT_ESCALATE, EXIT_STARTUP, isPrimaryMessage, type StartMessage, type WorkerMessage } from '../protocol.js';
import { createFrontHandler } from './front.js';
import { RequestIds } from './request-id.js';
import { toReply } from './responses.js';

/**
 * A front worker: runs every inline pool as nact actors and serves HTTP on the shared port.
 * It reports ready only after every pool has started; it stops when the primary says so (or
 * disappears), draining in-flight requests first.
 */
const log = createLogger('worker');
const pools = new Map<string, InlinePool>();
let server: Server | undefined;
let system: Ref<never> | undefined;
let phase: 'booting' | 'ready' | 'draining' = 'booting';
let exitCode = 0;

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

async function boot(msg: StartMessage): Promise<void> {
  const { config } = msg;
  system = startActorSystem();
  const ids = new RequestIds();
  for (const pool of Object.values(config.pools)) {
    const actor = await loadActor(pool.actor);
    const inline = new InlinePool(pool, actor, {
      parent: system,
      log,
      contextFor: (index) => actorContext(config, pool.name, index, ids),
      onEscalate: (name, reason) => escalate(name, reason),
    });
    await inline.start();
    pools.set(pool.name, inline);
  }
  server = listen(config, msg.portOverride);
  await new Promise<void>((resolve, reject) => {
    (server as Server).once('listening', resolve).once('error', reject);
  });
  phase = 'ready';
  const { port } = (server.address() as AddressInfo);
  log.info({ port, pools: [...pools.keys()] }, 'worker ready');
  send({ type: 'ready', port, pools: [...pools.keys()] });
}

function listen(config: Config, portOverride: number | undefined): Server {
  const { limits } = config.http;
  const s = createServer({
    requestTimeout: limits.requestTimeout,
    headersTimeout: limits.headersTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeout),
  }, createFrontHandler({
    config,
    pools,
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

/** The `ctx` an actor sees: its resources, a logger, where it runs, and ask() to other pools. */
function actorContext(config: Config, pool: string, index: number, ids: RequestIds): ActorContext<unknown> {
  return {
    resources: Object.freeze({}),
    log: log.child({ pool, actor: index }),
    self: Object.freeze({ pool, index, pid: process.pid }),
    async ask<T>(target: string, message: unknown, options: { timeout?: number } = {}): Promise<T> {
      const to = pools.get(target);
      if (to === undefined) {
        throw new ActorrtError('ACTORRT_E_UNKNOWN_POOL', `ctx.ask("${target}"): no such pool`, { hint: `declared pools: ${Object.keys(config.pools).join(', ')}` });
      }
      const req: ActorRequest = { method: 'ASK', path: '', params: {}, query: {}, headers: {}, body: message, requestId: ids.next() };
      return toReply(await to.dispatch(req, options.timeout ?? to.config.timeout)).body as T;
    },
  };
}

function escalate(pool: string, reason: string): void {
  send({ type: 'escalate', pool, reason });
  exitCode = EXIT_ESCALATE;
  void shutdown(5000);
}

/** Stop accepting, answer what is in flight (closing keep-alive connections), stop pools in reverse order. */
async function shutdown(timeout: number): Promise<void> {
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
  const remaining = Math.max(0, timeout - (Date.now() - started));
  for (const pool of [...pools.values()].reverse()) await pool.stop(remaining);
  if (system !== undefined) stopActorSystem(system);
  log.info({ exitCode }, 'worker stopped');
  process.exit(exitCode);
}

process.on('message', (msg: unknown) => {
  if (!isPrimaryMessage(msg)) return;
  if (msg.type === 'start') {
    boot(msg).catch((err: unknown) => {
      const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_STARTUP', (err as Error).message ?? String(err), { cause: err });
      log.error({ err }, 'worker start-up failed');
      send({ type: 'startup-failed', code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) });
      setImmediate(() => process.exit(EXIT_STARTUP));
    });
  } else {
    void shutdown(msg.timeout);
  }
});
// The primary coordinates shutdown: a terminal's Ctrl-C reaches the whole process group, and
// the workers must not race the primary's orderly drain.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
// If the primary disappears, drain and leave rather than serve unsupervised.
process.on('disconnect', () => { void shutdown(10_000); });
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception in worker; exiting');
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  log.fatal({ err }, 'unhandled rejection in worker; exiting');
  process.exit(1);
});
// Handshake: cluster's 'online' fires before this module has loaded, so a start message sent
// then would be lost. Ask for it only now that the listener above is in place.
send({ type: 'booted' });
