import type { IncomingMessage, ServerResponse } from 'node:http';
import { start as startActorSystem, stop as stopActorSystem } from 'nact';
// Pinned to 6.6: 6.8 depends on cookie 2 (node >= 22, ESM only, which jest on node 20 cannot load).
import inject from 'light-my-request';
import type { Config } from '../config/types.js';
import { ProcessCaches } from '../runtime/cache/process-caches.js';
import { ResponseCache } from '../runtime/cache/route-cache.js';
import { SYSTEM_CLOCK, type Clock } from '../runtime/clock.js';
import { orFail } from '../runtime/deadline.js';
import { ActorrtError } from '../runtime/errors.js';
import { loggedLines } from '../runtime/logger.js';
import { RequestMetrics } from '../runtime/metrics/request-metrics.js';
import { PoolHost } from '../runtime/pool/pool-host.js';
import { Resources, resourcesFor } from '../runtime/resources/resources.js';
import { createFrontHandler, routingTable, type RoutingTable } from '../runtime/worker/front.js';
import { inProcess, loadTopology, type LoadOptions, type TopologySource } from './load.js';
import { recordingLog, type LogRecord } from './logs.js';
import { injectOptions, toResponse, type TestRequest, type TestResponse } from './http.js';

/** How long start may take, by default: every resource opened and every actor's init() settled. */
const START_TIMEOUT_MS = 30_000;

export interface TopologyOptions extends LoadOptions {
  /**
   * Ready-made clients used instead of opening resources, by resource name (a fake mailer, your
   * own better-sqlite3 Database): actors get them as `ctx.resources.<name>`; the test closes them.
   */
  readonly clients?: Readonly<Record<string, unknown>> | undefined;
  /** The time of every cache (a TestClock moves it); timeouts stay on real time. Default: the real clock. */
  readonly clock?: Clock | undefined;
  /** Log level of the recorded lines (default: ACTORRT_LOG_LEVEL, else debug); `print: true` also writes them to stderr. */
  readonly log?: { readonly level?: string; readonly print?: boolean } | undefined;
  /** Milliseconds start may take (resources opened, every actor's init settled) before it fails naming the pools not started; default 30000. */
  readonly startTimeout?: number | undefined;
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
  /** Rejected once close() finished: a request still unanswered then fails instead of hanging. */
  private readonly closed: Promise<never>;
  private abandon: (err: Error) => void = () => {};

  private constructor(
    /** The topology as it runs here (pools inline, replacements applied). */
    readonly config: Config,
    /** Every log line of the runtime and of the actors, in order (`ctx.log` lines carry `pool`, `actor`, `requestId`). */
    readonly logs: LogRecord[],
    private readonly handler: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly release: () => Promise<void>,
  ) {
    this.closed = new Promise<never>((_, reject) => { this.abandon = reject; });
    this.closed.catch(() => {}); // rejected whether or not a request waits on it
  }

  /** Load `source`, open what it declares and start its pools; rejects (having released everything) when any of it fails. */
  static async start(source: TopologySource, options: TopologyOptions = {}): Promise<TestTopology> {
    checkOptions(options);
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
    // As a graceful stop of `actorrt start`: what is in flight gets http.shutdownTimeout to finish.
    const release = async (): Promise<void> => {
      await host?.close(config.http.shutdownTimeout);
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
      const starting = host;
      const ms = options.startTimeout ?? START_TIMEOUT_MS;
      // An init() that never settles fails the start naming the pools not started.
      await orFail(host.apply(config, {}, {}), ms, () => {
        const started = starting.snapshot();
        const missing = Object.keys(config.pools).filter((name) => !started.has(name));
        return new ActorrtError('ACTORRT_E_TEST_KIT', `startTopology: pools not started within ${ms} ms: ${missing.join(', ')}`,
          { hint: "an actor's init() that never settles (a connection that never answers?); raise options.startTimeout if it is only slow" });
      });
      const table: RoutingTable = routingTable(config, host.snapshot());
      let stopping = false;
      const handler = createFrontHandler({
        table: () => table,
        upstream: (name) => opened.upstream(name),
        upstreamFailed: (name, err) => opened.failed(name, err),
        cache: new ResponseCache(kit.caches, log, clock),
        invalidate: kit.everywhere,
        log,
        isReady: () => !stopping,
        isStopping: () => stopping,
        isDraining: () => stopping,
        metrics: new RequestMetrics(),
        accessLines: loggedLines(log, { event: 'access' }),
        scrape: () => Promise.reject(new ActorrtError('ACTORRT_E_TEST_KIT', 'http.metricsPath is rendered by the primary, which the test kit does not run')),
      });
      return new TestTopology(config, records, asServed(handler), async () => { stopping = true; await release(); });
    } catch (err) {
      await release();
      throw err;
    }
  }

  /**
   * Send one request through the front actor. `url` is the path with its query (`/notes?limit=2`);
   * a `body` that is JSON data is sent as JSON (content-type set), a string or bytes as they are.
   * Resolves with the reply (errors are replies too: `{ error: { code } }` with their status);
   * rejects (ACTORRT_E_TEST_KIT) for a request no client could send, naming the field.
   */
  async request<Body = unknown>(req: TestRequest): Promise<TestResponse<Body>> {
    const options = injectOptions(req);
    if (this.closing !== undefined) throw new ActorrtError('ACTORRT_E_TEST_KIT', `request(${options.method} ${req.url}) after close()`);
    const res = await Promise.race([inject(this.handler, options), this.closed]);
    return toResponse<Body>(res, options.method);
  }

  /**
   * Stop the pools (what is in flight gets http.shutdownTimeout to finish, as in a graceful stop),
   * close caches and resources. A request still unanswered then rejects (ACTORRT_E_TEST_KIT).
   * Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.release().finally(() => {
      this.abandon(new ActorrtError('ACTORRT_E_TEST_KIT', 'the topology was closed before this request was answered',
        { hint: 'await every request before close(); a reply slower than http.shutdownTimeout is cut off, as a stopping instance cuts it' }));
    });
    return this.closing;
  }
}

const LOG_LEVELS: ReadonlySet<string> = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** The options as a test wrote them, checked before anything opens: a wrong one names itself. */
function checkOptions(options: TopologyOptions): void {
  const bad = (what: string, hint: string): ActorrtError => new ActorrtError('ACTORRT_E_TEST_KIT', `startTopology: options.${what}`, { hint });
  if (options === null || typeof options !== 'object') throw bad('must be an object', 'startTopology(file, { resources, clients, clock, caches, env, log })');
  for (const [name, settings] of Object.entries(options.resources ?? {})) {
    if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) throw bad(`resources.${name} must be an object of settings`, `e.g. resources: { ${name}: { file: ':memory:' } }`);
  }
  if (options.clients !== undefined && (options.clients === null || typeof options.clients !== 'object')) throw bad('clients must be an object of resource names to clients', 'clients: { mail: fakeMailer }');
  if (options.clock !== undefined && typeof (options.clock as { now?: unknown } | null)?.now !== 'function') throw bad('clock must have a now() method', 'clock: new TestClock()');
  if (options.caches !== undefined && options.caches !== 'topology' && options.caches !== 'memory') throw bad(`caches must be 'topology' or 'memory', got ${JSON.stringify(options.caches)}`, "caches: 'memory' turns Redis stores into memory stores");
  const level = options.log?.level;
  if (level !== undefined && !LOG_LEVELS.has(level)) throw bad(`log.level must be one of ${[...LOG_LEVELS].join(', ')}, got ${JSON.stringify(level)}`, "log: { level: 'info' }");
  const timeout = options.startTimeout;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout))) throw bad('startTimeout must be a positive number of milliseconds', 'startTimeout: 60_000');
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
