/**
 * The actor SDK: what users import from 'actorrt' to write an actor module.
 *
 *   import { defineActor } from 'actorrt';
 *   export default defineActor({
 *     init: async (ctx) => ({ hits: 0 }),
 *     receive: async (state, req, ctx) => ({ status: 200, body: { id: req.params.id } }),
 *   });
 */

/**
 * Resource clients as `ctx.resources` holds them: the drivers' own objects, opened once per
 * process. Declare the ones a pool binds: `defineActor<State, { db: SqliteDatabase }>(...)`.
 */
export type SqliteDatabase = import('better-sqlite3').Database;
export type PostgresPool = import('pg').Pool;
export type RedisClient = import('@keyv/redis').RedisClientType;
export type { HttpUpstream } from '../runtime/resources/http.js';

/** A request as an actor sees it; actor-to-actor messages arrive with method `ASK`. */
export interface ActorRequest<Body = unknown> {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | readonly string[]>>;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Parsed JSON for JSON requests, a Buffer for other content types, undefined when empty. */
  readonly body: Body;
  readonly requestId: string;
  /**
   * The client's address: the connection's peer, or, when the peer is a proxy `http.trustProxy`
   * trusts, the nearest X-Forwarded-For entry that is not itself trusted. As the socket reports
   * it (an IPv4 client of a dual-stack listener reads `::ffff:10.0.0.7`); '' for `ASK` messages.
   */
  readonly ip: string;
  /** The client's protocol: X-Forwarded-Proto from a trusted proxy, else whether the connection is TLS; 'http' for `ASK` messages. */
  readonly protocol: 'http' | 'https';
  /** The W3C Trace Context this request is handled in (the incoming `traceparent`'s trace, or a new one). */
  readonly trace: RequestTrace;
}

/**
 * A request's W3C Trace Context (https://www.w3.org/TR/trace-context/), as the actor handling it
 * sees it. In a front worker's inline pool the span is the HTTP request's own; in an isolated
 * pool, and for an `ASK` message, it is a span of its own, a child of the caller's. With an
 * OpenTelemetry SDK registered these are the ids of actorrt's spans (docs/operations.md).
 */
export interface RequestTrace {
  /** 32 lowercase hex digits: the incoming traceparent's trace-id, or a new one. */
  readonly traceId: string;
  /** 16 lowercase hex digits: the span this actor's work belongs to. */
  readonly spanId: string;
  /** The span that caused this one (the client's, the front worker's, the asking actor's); undefined for a trace that started here. */
  readonly parentSpanId: string | undefined;
  /** The trace-flags sampled bit: the trace is being recorded. */
  readonly sampled: boolean;
  /**
   * `00-{traceId}-{spanId}-{01|00}`: send it as the `traceparent` header of calls made for this
   * request (with `tracestate`), so that they join the trace as children of this span.
   */
  readonly traceparent: string;
  /** The incoming tracestate, validated (at most 32 members, 512 characters); undefined when there was none. */
  readonly tracestate: string | undefined;
}

/** What `receive` returns. A value without any of these keys is sent as a 200 JSON body. */
export interface ActorReply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: unknown;
}

/**
 * An error reply in the shape actorrt's own errors take, `{ "error": { code, message, requestId } }`,
 * so clients parse one error format: `return errorReply(req, 404, 'NOTE_NOT_FOUND', 'note 7 not found')`.
 */
export function errorReply(req: Pick<ActorRequest, 'requestId'>, status: number, code: string, message: string): ActorReply {
  return { status, body: { error: { code, message, requestId: req.requestId } } };
}

/** Structured logger handed to actors (pino's interface, narrowed). */
export interface ActorLogger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface AskOptions {
  /** Milliseconds before the ask fails with ACTORRT_E_TIMEOUT; defaults to the target pool's timeout. */
  readonly timeout?: number;
}

/** Where an actor runs. */
export interface ActorSelf {
  readonly pool: string;
  /** The actor's index in its process (in its thread, for a thread pool). */
  readonly index: number;
  readonly pid: number;
  /** Thread pools (`threads:`): the index of the worker thread the actor runs in. */
  readonly thread?: number;
}

/**
 * A cache store of the topology (`caches:`), as `ctx.caches.<name>`. A store that fails or is slow
 * reads as a miss and drops the write (bounded by the store's timeout); it never throws for that.
 */
export interface ActorCache {
  /** The value stored under `key`, or undefined (absent, expired, or the store unavailable). */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Store a JSON-like value for `ttl` (ms or `30s`; the store's ttl by default). */
  set(key: string, value: unknown, ttl?: number | string): Promise<void>;
  /** Remove `key` (and its vary variants) in every process; a trailing `*` removes every key with that prefix. */
  delete(key: string): Promise<void>;
}

/** Everything the runtime gives an actor besides its state and the request. */
export interface ActorContext<Resources = Record<string, unknown>> {
  /** The resources bound to this actor's pool, opened once per process. */
  readonly resources: Resources;
  readonly log: ActorLogger;
  readonly self: ActorSelf;
  /** The topology's cache stores by name (`caches:`). */
  readonly caches: Readonly<Record<string, ActorCache>>;
  /** Send a message to another pool and wait for its reply body. */
  ask<T = unknown>(pool: string, message: unknown, options?: AskOptions): Promise<T>;
}

export interface ActorDefinition<State = undefined, Resources = Record<string, unknown>> {
  /** Build this actor's private state; runs again after every restart. */
  init?(ctx: ActorContext<Resources>): State | Promise<State>;
  /** Handle one message; one at a time per actor, in mailbox order. */
  receive(state: State, req: ActorRequest, ctx: ActorContext<Resources>): ActorReply | unknown | Promise<ActorReply | unknown>;
  /** Release what `init` acquired; runs on stop and before a restart. */
  stop?(state: State, ctx: ActorContext<Resources>): void | Promise<void>;
}

const BRAND: unique symbol = Symbol.for('actorrt.actor');

/** A checked actor definition, as the default export of an actor module. */
export type Actor<State = undefined, Resources = Record<string, unknown>> = ActorDefinition<State, Resources> & { readonly [BRAND]: true };

/** Declare an actor; gives the editor full types for `receive`'s request and reply. */
export function defineActor<State = undefined, Resources = Record<string, unknown>>(
  definition: ActorDefinition<State, Resources>,
): Actor<State, Resources> {
  if (definition === null || typeof definition !== 'object' || typeof definition.receive !== 'function') {
    throw new TypeError('defineActor() needs an object with a receive(state, req, ctx) function');
  }
  return Object.freeze({ ...definition, [BRAND]: true as const });
}

/** True for a value produced by defineActor (or shaped like one). */
export function isActor(value: unknown): value is Actor<unknown, unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { receive?: unknown }).receive === 'function';
}
