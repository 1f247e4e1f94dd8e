import { isActor, type Actor, type ActorContext, type ActorRequest, type AskOptions, type AskTargets, type ReplyBody } from '../actors/index.js';
import { ProcessCaches } from '../runtime/cache/process-caches.js';
import { SYSTEM_CLOCK, type Clock } from '../runtime/clock.js';
import { orFail } from '../runtime/deadline.js';
import { ActorrtError } from '../runtime/errors.js';
import { actorContext, type Ask } from '../runtime/pool/actor-context.js';
import { loadActor } from '../runtime/pool/actor-loader.js';
import { encodeBody, toReply, type Reply as NormalizedReply } from '../runtime/reply.js';
import { childTrace } from '../runtime/trace/trace-context.js';
import { parseQuery } from '../runtime/worker/query.js';
import { RequestIds } from '../runtime/request-id.js';
import { cache as normalizeCache } from '../config/normalize.js';
import type { CacheConfig } from '../config/types.js';
import { parseDuration } from '../config/units.js';
import { pathOf } from './load.js';
import { recordingLog, type LogRecord } from './logs.js';

/** How long an actor's init may take by default before the test fails saying so. */
const INIT_TIMEOUT_MS = 10_000;

/**
 * What answers `ctx.ask(pool, message)` in a test: a function (what it returns is what the ask
 * resolves with; what it throws, the ask rejects with), or another actor under test (the ask
 * resolves with its reply's body, as in a running topology).
 */
export type AskAnswer<Reply = unknown> = ((message: unknown, options: AskOptions) => Reply | Promise<Reply>) | ActorTest<unknown, unknown>;

/** A message for `receive`, with everything but what the test cares about filled in. */
export interface TestActorRequest {
  /** GET unless given; `ASK` is how actor-to-actor messages arrive. */
  readonly method?: string | undefined;
  /** The path (default `/`), or use `url` for a path with its query. */
  readonly path?: string | undefined;
  /** A path with its query (`/notes?limit=2`): fills `path` and `query`. */
  readonly url?: string | undefined;
  readonly params?: Readonly<Record<string, string>> | undefined;
  readonly query?: Readonly<Record<string, string | readonly string[]>> | undefined;
  /** Header names in lower case, as node:http gives them. */
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body?: unknown;
  readonly requestId?: string | undefined;
  /** Default 127.0.0.1. */
  readonly ip?: string | undefined;
  readonly protocol?: 'http' | 'https' | undefined;
}

export interface ActorTestOptions<Resources = Record<string, unknown>, Caches extends string = string, Asks extends AskTargets = AskTargets> {
  /** What `ctx.resources` holds: real clients (an in-memory SQLite) or stand-ins; typed by what the actor declares. */
  readonly resources?: Resources | undefined;
  /** Who answers `ctx.ask`, by pool name; an ask to any other pool rejects with ACTORRT_E_UNKNOWN_POOL, as in a topology. */
  readonly asks?: { readonly [Pool in keyof Asks & string]?: AskAnswer<Asks[Pool]> } | undefined;
  /** Memory stores `ctx.caches` offers, by name, with their ttl (ms or `30s`; default 30s): `{ notes: {} }`. */
  readonly caches?: { readonly [Name in Caches]?: { readonly ttl?: number | string; readonly maxEntries?: number } } | undefined;
  /** The caches' time (a TestClock moves it). */
  readonly clock?: Clock | undefined;
  /** `ctx.self.pool` (default `test`) and `ctx.self.index` (default 0). */
  readonly pool?: string | undefined;
  readonly index?: number | undefined;
  /** Level of the recorded log lines (default debug); `print: true` also writes them to stderr. */
  readonly log?: { readonly level?: string; readonly print?: boolean } | undefined;
  /** Milliseconds init may take before testActor (or restart) fails saying so; default 10000. */
  readonly initTimeout?: number | undefined;
}

/** What receive() returned, as the runtime reads it: status (200 unless set), headers, body; `value` is the raw return. */
export interface ActorTestReply<Body = unknown> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Body;
  readonly value: unknown;
}

/** One `ctx.ask` the actor made. */
export interface RecordedAsk {
  readonly pool: string;
  readonly message: unknown;
  readonly options: AskOptions;
}

/**
 * One actor, alone, with a test context: `init` ran when it was made (testActor), `receive` runs
 * one message, `stop` runs its stop. The same `ctx` a pool gives (resources, a logger, caches,
 * ask) with what the test chose behind it. No mailbox, timeout or supervision: what the actor
 * throws, receive() rejects with (startTopology runs those).
 */
export class ActorTest<State, Resources, Caches extends string = string, Asks extends AskTargets = AskTargets, Reply = unknown> {
  /** Every line the actor logged through ctx.log, in order. */
  readonly logs: LogRecord[];
  /** Every ctx.ask it made, in order. */
  readonly asked: RecordedAsk[] = [];
  private current: ActorRequest | undefined;
  private stateNow: State | undefined;
  private stopped = false;
  private readonly ids = new RequestIds();
  readonly ctx: ActorContext<Resources, Caches, Asks>;

  private constructor(readonly actor: Actor<State, Resources, Caches, Asks, Reply>, options: ActorTestOptions<Resources, Caches, Asks>,
    private readonly caches: ProcessCaches | undefined, private readonly initTimeout: number) {
    const { logger, records } = recordingLog(options.log?.level, options.log?.print);
    this.logs = records;
    const asks: Readonly<Record<string, AskAnswer | undefined>> = options.asks ?? {};
    const ask: Ask = async (target, message, askOptions) => {
      this.asked.push({ pool: target, message, options: askOptions });
      const answer = Object.hasOwn(asks, target) ? asks[target] : undefined;
      if (answer === undefined) {
        throw new ActorrtError('ACTORRT_E_UNKNOWN_POOL', `ctx.ask("${target}"): no such pool`,
          { hint: `the test answers asks to: ${Object.keys(asks).join(', ') || 'none'} (testActor's asks option)` });
      }
      return answer instanceof ActorTest ? answer.ask(message) : answer(message, askOptions);
    };
    const context = actorContext({ log: logger, caches: caches?.forActors ?? {}, ask }, options.pool ?? 'test', options.index ?? 0,
      (options.resources ?? {}) as Readonly<Record<string, unknown>>, () => this.current);
    // The runtime's context, typed as the actor declares it: what the test passed is what it declared (options' types).
    this.ctx = context as ActorContext<Resources, Caches, Asks>;
  }

  /** Load `actor` (or the module at a path, relative to process.cwd(), or a file: URL), build its context and run its init. */
  static async start<State, Resources, Caches extends string, Asks extends AskTargets, Reply>(actor: Actor<State, Resources, Caches, Asks, Reply> | string | URL,
    options: ActorTestOptions<Resources, Caches, Asks> = {}): Promise<ActorTest<State, Resources, Caches, Asks, Reply>> {
    // A module path has no type to check against: the test states it (testActor<State>('./actors/x.ts')), as import() would.
    const path = pathOf(actor);
    const loaded = path === undefined ? actor : (await loadActor(path)) as unknown as Actor<State, Resources, Caches, Asks, Reply>;
    if (!isActor(loaded)) {
      throw new ActorrtError('ACTORRT_E_TEST_KIT', `testActor: expected an actor or the path of its module, got ${loaded === null ? 'null' : typeof loaded}${typeof loaded === 'object' && loaded !== null ? ' without a receive function' : ''}`,
        { hint: "export default defineActor({ receive: (state, req, ctx) => ... }) from 'actorrt', then testActor(thatActor) or testActor('./actors/x.ts')" });
    }
    const initTimeout = options.initTimeout ?? INIT_TIMEOUT_MS;
    if (!(typeof initTimeout === 'number' && initTimeout > 0 && Number.isFinite(initTimeout))) throw new ActorrtError('ACTORRT_E_TEST_KIT', 'testActor: options.initTimeout must be a positive number of milliseconds');
    const caches = options.caches === undefined ? undefined : memoryCaches(options.caches, options.clock ?? SYSTEM_CLOCK);
    if (caches !== undefined) await caches.caches.open();
    const test = new ActorTest(loaded, options, caches, initTimeout);
    try {
      await test.init();
    } catch (err) {
      await caches?.caches.close();
      throw err;
    }
    return test;
  }

  /** The actor's state now (what init returned, as receive changed it). */
  get state(): State {
    return this.stateNow as State;
  }

  /** Run one message through receive; resolves with the reply as the runtime reads it. */
  async receive<Body = ReplyBody<Reply>>(message: TestActorRequest = {}): Promise<ActorTestReply<Body>> {
    this.live('receive');
    const req = this.requestOf(message ?? {});
    this.current = req;
    try {
      const value = await this.actor.receive(this.state, req, this.ctx);
      // Read as the runtime reads it: a status outside 100-599 or a body with no JSON form is ACTORRT_E_BAD_REPLY (a 500 there).
      const reply: NormalizedReply = toReply(value);
      encodeBody(reply);
      return { status: reply.status, headers: reply.headers, body: reply.body as Body, value };
    } finally {
      this.current = undefined;
    }
  }

  /** Send an actor-to-actor message (method ASK) and resolve with the reply's body, as ctx.ask would. */
  async ask<T = unknown>(message: unknown): Promise<T> {
    return (await this.receive<T>({ method: 'ASK', path: '', body: message, ip: '' })).body;
  }

  /** Run stop, then init again: what a supervisor's restart does. */
  async restart(): Promise<void> {
    this.live('restart');
    await this.actor.stop?.(this.state, this.ctx);
    await this.init();
  }

  /** Run the actor's stop and close its caches. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.actor.stop?.(this.state, this.ctx);
    } finally {
      await this.caches?.caches.close();
    }
  }

  private async init(): Promise<void> {
    this.stateNow = (await orFail(Promise.resolve(this.actor.init?.(this.ctx)), this.initTimeout, () => new ActorrtError('ACTORRT_E_TEST_KIT',
      `init() did not settle within ${this.initTimeout} ms`, { hint: 'an await that never resolves (a stub or a connection that never answers?); raise options.initTimeout if it is only slow' }))) as State;
  }

  private live(what: string): void {
    if (this.stopped) throw new ActorrtError('ACTORRT_E_TEST_KIT', `${what}() after stop(): make a new actor with testActor()`);
  }

  private requestOf(m: TestActorRequest): ActorRequest {
    if (typeof m !== 'object') throw new ActorrtError('ACTORRT_E_TEST_KIT', `receive(): expected { method, url | path, params, query, headers, body }, got ${typeof m}`);
    const method = m.method ?? 'GET';
    const where = m.url ?? m.path;
    if (where !== undefined && (typeof where !== 'string' || (!where.startsWith('/') && !(method === 'ASK' && where === '')))) {
      throw new ActorrtError('ACTORRT_E_TEST_KIT', `receive(): ${m.url === undefined ? 'path' : 'url'} must start with /, got ${JSON.stringify(where)}`, { hint: "the request path as the route saw it: '/notes/7'" });
    }
    const q = m.url?.indexOf('?') ?? -1;
    const path = m.url === undefined ? m.path ?? '/' : q === -1 ? m.url : m.url.slice(0, q);
    const query = m.query ?? (m.url !== undefined && q !== -1 ? parseQuery(m.url.slice(q + 1)) : {});
    return {
      method, path, params: m.params ?? {}, query, headers: m.headers ?? {}, body: m.body,
      requestId: m.requestId ?? this.ids.next(), ip: m.ip ?? '127.0.0.1', protocol: m.protocol ?? 'http', trace: childTrace(undefined),
    };
  }
}

/** ctx.caches of memory stores, as a topology declaring them would give (copies in and out, TTLs, prefix deletes). */
function memoryCaches(declared: Readonly<Record<string, { readonly ttl?: number | string; readonly maxEntries?: number } | undefined>>, clock: Clock): ProcessCaches {
  const caches: Record<string, CacheConfig> = {};
  for (const [name, c] of Object.entries(declared)) {
    const ttl = c?.ttl === undefined ? undefined : parseDuration(c.ttl) ?? Number.NaN;
    if (ttl !== undefined && !(ttl > 0)) throw new ActorrtError('ACTORRT_E_TEST_KIT', `testActor: options.caches.${name}.ttl ${String(c?.ttl)} is not a duration above 0`, { hint: 'milliseconds, or 250ms, 30s, 5m' });
    const maxEntries = c?.maxEntries;
    if (maxEntries !== undefined && !(Number.isInteger(maxEntries) && maxEntries >= 1)) throw new ActorrtError('ACTORRT_E_TEST_KIT', `testActor: options.caches.${name}.maxEntries must be an integer >= 1`);
    // The schema's defaults for what the test leaves out, applied where the topology's are.
    caches[name] = normalizeCache({ store: 'memory', ...(ttl === undefined ? {} : { ttl }), ...(maxEntries === undefined ? {} : { maxEntries }) }, name);
  }
  const { logger } = recordingLog('error');
  return new ProcessCaches({ caches, routes: [], resources: {} }, logger, () => Promise.resolve(), clock);
}

/**
 * Test one actor alone: loads it (an actor, or a module path), runs its init with a test context
 * and resolves once it is ready to receive.
 *
 *   const notes = await testActor(notesActor, { resources: { db }, caches: { notes: {} } });
 *   const reply = await notes.receive({ method: 'GET', path: '/notes/1', params: { id: '1' } });
 *   assert.equal(reply.status, 200);
 *   await notes.stop();
 */
export function testActor<State, Resources, Caches extends string = string, Asks extends AskTargets = AskTargets, Reply = unknown>(
  actor: Actor<State, Resources, Caches, Asks, Reply> | string | URL, options: ActorTestOptions<Resources, Caches, Asks> = {}): Promise<ActorTest<State, Resources, Caches, Asks, Reply>> {
  return ActorTest.start(actor, options);
}
