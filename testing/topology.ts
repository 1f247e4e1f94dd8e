import type { IncomingMessage, ServerResponse } from 'node:http';
import { start as startActorSystem, stop as stopActorSystem } from 'nact';
import inject from 'light-my-request';
import type { Config } from '../config/types.js';
import { ProcessCaches } from '../runtime/cache/process-caches.js';
import { ResponseCache } from '../runtime/cache/route-cache.js';
import { SYSTEM_CLOCK, type Clock } from '../runtime/clock.js';
import { ActorrtError } from '../runtime/errors.js';
import { loggedLines } from '../runtime/logger.js';
import { RequestMetrics } from '../runtime/metrics/request-metrics.js';
import { PoolHost } from '../runtime/pool/pool-host.js';
import { Resources, resourcesFor } from '../runtime/resources/resources.js';
import { createFrontHandler, routingTable, type RoutingTable } from '../runtime/worker/front.js';
import { inProcess, loadTopology, type LoadOptions, type TopologySource } from './load.js';
import { recordingLog, type LogRecord } from './logs.js';
import { toResponse, type TestRequest, type TestResponse } from './response.js';

/** How long close() lets in-flight messages finish (each pool's drainTimeout applies below it). */
const CLOSE_TIMEOUT_MS = 5000;

export interface TopologyOptions extends LoadOptions {
  /**
   * Ready-made clients used instead of opening resources, by resource name (a fake mailer, your
   * own better-sqlite3 Database): actors get them as `ctx.resources.<name>`; the test closes them.
   */
  readonly clients?: Readonly<Record<string, unknown>>;
  /** The time of every cache (a TestClock moves it); timeouts stay on real time. Default: the real clock. */
  readonly clock?: Clock;
  /** Log level of the recorded lines (default: ACTORRT_LOG_LEVEL, else debug); `print: true` also writes them to stderr. */
  readonly log?: { readonly level?: string; readonly print?: boolean };
}

/**
 * A topology running inside the test's own process: its resources and caches open, every pool
 * started as nact actors (thread and isolated pools too: see `inProcess`), and the front actor
 * that `actorrt start` serves HTTP with, called without a socket. `request()` takes the same way
 * a request does through the CLI: health paths, routing, body limits, cache, dispatch, replies
 * and errors, invalidation.
 */
export class TestTopology {
  private closing: Promise<void> | undefined;

  private constructor(
    /** The topology as it runs here (pools inline, replacements applied). */
    readonly config: Config,
    /** Every log line of the runtime and of the actors, in order (`ctx.log` lines carry `pool`, `actor`, `requestId`). */
    readonly logs: LogRecord[],
    private readonly handler: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly release: () => Promise<void>,
  ) {}

  /** Load `source`, open what it declares and start its pools; rejects (having released everything) when any of it fails. */
  static async start(source: TopologySource, options: TopologyOptions = {}): Promise<TestTopology> {
    const config = inProcess(loadTopology(source, options));
    const provided = options.clients ?? {};
    for (const name of Object.keys(provided)) {
      if (config.resources[name] === undefined) {
        throw new ActorrtError('ACTORRT_E_TEST_KIT', `startTopology: options.clients.${name}: the topology declares no resource "${name}"`,
          { hint: `declared: ${Object.keys(config.resources).join(', ') || 'none'}` });
      }
    }
    const { logger: log, records } = recordingLog(options.log?.level, options.log?.print);
    const clock = options.clock ?? SYSTEM_CLOCK;
    const system = startActorSystem();
    let resources: Resources | undefined;
    let caches: ProcessCaches | undefined;
    let host: PoolHost | undefined;
    const release = async (): Promise<void> => {
      await host?.close(CLOSE_TIMEOUT_MS);
      await caches?.caches.close();
      await resources?.close();
      stopActorSystem(system);
    };
    try {
      resources = await Resources.open(config, resourcesFor(config, Object.values(config.pools), true), log, () => {}, provided);
      // One process: invalidation reaches every store here, and there is no other process to tell.
      caches = new ProcessCaches(config, log, () => Promise.resolve(), clock);
      await caches.caches.open();
      const opened = resources;
      const kit = caches;
      host = new PoolHost({
        log, system, resources: opened, caches: kit.forActors,
        local: (c) => Object.values(c.pools),
        onSupervision: () => {},
        // In `actorrt start` the process escalated to exits and is replaced; here the test sees the line.
        onEscalate: (pool, reason) => log.error({ pool, reason, event: 'escalate' }, 'a pool escalated past its supervision (actorrt start would replace its process)'),
        onResource: () => {},
      });
      await host.apply(config, {}, {});
      const table: RoutingTable = routingTable(config, host.snapshot());
      let closed = false;
      const handler = createFrontHandler({
        table: () => table,
        upstream: (name) => opened.upstream(name),
        upstreamFailed: (name, err) => opened.failed(name, err),
        cache: new ResponseCache(kit.caches, log, clock),
        invalidate: kit.everywhere,
        log,
        isReady: () => !closed,
        isStopping: () => closed,
        isDraining: () => closed,
        metrics: new RequestMetrics(),
        accessLines: loggedLines(log, { event: 'access' }),
        scrape: () => Promise.reject(new ActorrtError('ACTORRT_E_TEST_KIT', 'http.metricsPath is rendered by the primary, which the test kit does not run')),
      });
      const topology = new TestTopology(config, records, asServed(handler), async () => { closed = true; await release(); });
      return topology;
    } catch (err) {
      await release();
      throw err;
    }
  }

  /**
   * Send one request through the front actor. `url` is the path with its query (`/notes?limit=2`);
   * a `body` that is an object or array is sent as JSON (content-type set), a string or Buffer as
   * it is. Resolves with the reply (errors are replies too: `{ error: { code } }` with their status).
   */
  async request<Body = unknown>(req: TestRequest): Promise<TestResponse<Body>> {
    if (this.closing !== undefined) throw new ActorrtError('ACTORRT_E_TEST_KIT', `request(${req.method ?? 'GET'} ${req.url}) after close()`);
    if (typeof req.url !== 'string' || !req.url.startsWith('/')) {
      throw new ActorrtError('ACTORRT_E_TEST_KIT', `request(): url must be a path starting with /, got ${JSON.stringify(req.url)}`);
    }
    const body = req.body;
    const json = body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body);
    const headers: Record<string, string | string[]> = { ...(json ? { 'content-type': 'application/json' } : {}), ...req.headers };
    const res = await inject(this.handler, {
      method: (req.method ?? 'GET') as 'GET',
      url: req.url,
      headers,
      ...(body === undefined ? {} : { payload: json ? JSON.stringify(body) : body as string | Buffer }),
      remoteAddress: req.remoteAddress ?? '127.0.0.1',
    });
    return toResponse<Body>(res, req.method ?? 'GET');
  }

  /** Stop the pools (in-flight messages finish first), close caches and resources. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.release();
    return this.closing;
  }
}

/**
 * light-my-request's response has no socket to flush to, so it never reads as finished, and its
 * socket counts no bytes: what the access log and the request's span read of a real exchange.
 * Here a reply is finished once it ended, and its bytes are its body's (content-length).
 */
function asServed(front: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    Object.defineProperty(res, 'writableFinished', { get: () => res.writableEnded });
    Object.defineProperty(req.socket, 'bytesWritten', { get: () => (res.writableEnded ? Number(res.getHeader('content-length') ?? 0) : 0), configurable: true });
    front(req, res);
  };
}

/** Start a topology in-process (see TestTopology). */
export function startTopology(source: TopologySource, options: TopologyOptions = {}): Promise<TestTopology> {
  return TestTopology.start(source, options);
}
