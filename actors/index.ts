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

/** The statuses an error reply may carry: 400 to 599 (RFC 9110 section 15: client and server errors). */
export type ErrorStatus =
  | 400 | 401 | 402 | 403 | 404 | 405 | 406 | 407 | 408 | 409 | 410 | 411 | 412 | 413 | 414 | 415 | 416 | 417 | 418 | 419
  | 420 | 421 | 422 | 423 | 424 | 425 | 426 | 427 | 428 | 429 | 430 | 431 | 432 | 433 | 434 | 435 | 436 | 437 | 438 | 439
  | 440 | 441 | 442 | 443 | 444 | 445 | 446 | 447 | 448 | 449 | 450 | 451 | 452 | 453 | 454 | 455 | 456 | 457 | 458 | 459
  | 460 | 461 | 462 | 463 | 464 | 465 | 466 | 467 | 468 | 469 | 470 | 471 | 472 | 473 | 474 | 475 | 476 | 477 | 478 | 479
  | 480 | 481 | 482 | 483 | 484 | 485 | 486 | 487 | 488 | 489 | 490 | 491 | 492 | 493 | 494 | 495 | 496 | 497 | 498 | 499
  | 500 | 501 | 502 | 503 | 504 | 505 | 506 | 507 | 508 | 509 | 510 | 511 | 512 | 513 | 514 | 515 | 516 | 517 | 518 | 519
  | 520 | 521 | 522 | 523 | 524 | 525 | 526 | 527 | 528 | 529 | 530 | 531 | 532 | 533 | 534 | 535 | 536 | 537 | 538 | 539
  | 540 | 541 | 542 | 543 | 544 | 545 | 546 | 547 | 548 | 549 | 550 | 551 | 552 | 553 | 554 | 555 | 556 | 557 | 558 | 559
  | 560 | 561 | 562 | 563 | 564 | 565 | 566 | 567 | 568 | 569 | 570 | 571 | 572 | 573 | 574 | 575 | 576 | 577 | 578 | 579
  | 580 | 581 | 582 | 583 | 584 | 585 | 586 | 587 | 588 | 589 | 590 | 591 | 592 | 593 | 594 | 595 | 596 | 597 | 598 | 599;

/** The body of every error reply: actorrt's own (`ACTORRT_E_*`, docs/errors.md) and an actor's (errorReply). */
export interface ErrorBody<Code extends string = string> {
  readonly error: { readonly code: Code; readonly message: string; readonly requestId: string };
}

/** What errorReply returns; `Code` is the literal code, so a client or test can narrow on it. */
export interface ErrorReply<Code extends string = string> extends ActorReply {
  readonly status: ErrorStatus;
  readonly body: ErrorBody<Code>;
}

/** An error code as an editor checks it: UPPER_SNAKE_CASE, as actorrt's own (`NOTE_NOT_FOUND`). */
export type ErrorCodeOf<Code extends string> = Code extends Uppercase<Code> ? (Code extends `${string} ${string}` ? 'error codes have no spaces: UPPER_SNAKE_CASE' : Code) : 'error codes are UPPER_SNAKE_CASE, as actorrt\'s own';

/**
 * An error reply in the shape actorrt's own errors take, `{ "error": { code, message, requestId } }`,
 * so clients parse one error format: `return errorReply(req, 404, 'NOTE_NOT_FOUND', 'note 7 not found')`.
 * Types: `status` 400-599; `code` UPPER_SNAKE_CASE (an editor refuses `'not found'`), kept as its
 * literal in the reply's type. Branch on the code, never the message (docs/errors.md).
 */
export function errorReply<const Code extends string>(req: Pick<ActorRequest, 'requestId'>, status: ErrorStatus, code: Code & ErrorCodeOf<Code>, message: string): ErrorReply<Code> {
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

/** Pool name -> the body `ctx.ask` resolves with for it (`{ users: AskReply<typeof usersActor> }`). */
export type AskTargets = Readonly<Record<string, unknown>>;

/**
 * Everything the runtime gives an actor besides its state and the request. The type parameters
 * are what the actor declares it uses, so an editor checks them: `Resources`, the clients of the
 * resources its pool binds (`{ db: SqliteDatabase }`); `Caches`, the names of the cache stores it
 * uses (`'notes' | 'sessions'`); `Asks`, per pool it asks, the reply body it gets back.
 */
export interface ActorContext<Resources = Record<string, unknown>, Caches extends string = string, Asks extends AskTargets = AskTargets> {
  /** The resources bound to this actor's pool, opened once per process. */
  readonly resources: Resources;
  readonly log: ActorLogger;
  readonly self: ActorSelf;
  /** The topology's cache stores by name (`caches:`). */
  readonly caches: Readonly<Record<Caches, ActorCache>>;
  /**
   * Send a message to another pool and wait for its reply body (typed by `Asks` when declared).
   * Rejects with the target's error code: ACTORRT_E_TIMEOUT, ACTORRT_E_MAILBOX_FULL,
   * ACTORRT_E_UNKNOWN_POOL, ACTORRT_E_POOL_DOWN, or the asked actor's failure.
   */
  ask<Pool extends keyof Asks & string>(pool: Pool, message: unknown, options?: AskOptions): Promise<Asks[Pool]>;
  /** The same, with the reply type given here: `ctx.ask<User>('users', { id })`. */
  ask<T>(pool: keyof Asks & string, message: unknown, options?: AskOptions): Promise<T>;
}

/**
 * An actor module's definition. `State` is what init returns; `Reply` what receive returns (the
 * body `ctx.ask` gets back from it: AskReply). Given no type arguments, TypeScript infers both;
 * annotate `ctx` (`(ctx: ActorContext<{ db: SqliteDatabase }, 'notes'>) => ...`) to declare what the
 * actor uses and keep that inference (type arguments given in part are not inferred).
 */
export interface ActorDefinition<State = undefined, Resources = Record<string, unknown>, Caches extends string = string, Asks extends AskTargets = AskTargets, Reply = unknown> {
  /** Build this actor's private state; runs again after every restart. */
  init?(ctx: ActorContext<Resources, Caches, Asks>): State | Promise<State>;
  /** Handle one message; one at a time per actor, in mailbox order. */
  receive(state: State, req: ActorRequest, ctx: ActorContext<Resources, Caches, Asks>): Reply | Promise<Reply>;
  /** Release what `init` acquired; runs on stop and before a restart. */
  stop?(state: State, ctx: ActorContext<Resources, Caches, Asks>): void | Promise<void>;
}

/** The body a reply carries: `body` of a `{ status?, headers?, body? }` reply, or the value itself (sent as a 200 JSON body). */
export type ReplyBody<R> = R extends { readonly body?: infer B } ? (Exclude<keyof R, 'status' | 'headers' | 'body'> extends never ? B : R) : R;

/** What `ctx.ask` resolves with when it asks `A`'s pool: the body of what its receive returns. */
export type AskReply<A extends { receive(...args: never[]): unknown }> = ReplyBody<Awaited<ReturnType<A['receive']>>>;

const BRAND: unique symbol = Symbol.for('actorrt.actor');

/** A checked actor definition, as the default export of an actor module. */
export type Actor<State = undefined, Resources = Record<string, unknown>, Caches extends string = string, Asks extends AskTargets = AskTargets, Reply = unknown> =
  ActorDefinition<State, Resources, Caches, Asks, Reply> & { readonly [BRAND]: true };

/** Declare an actor; gives the editor full types for `receive`'s request and reply. */
export function defineActor<State = undefined, Resources = Record<string, unknown>, Caches extends string = string, Asks extends AskTargets = AskTargets, Reply = unknown>(
  definition: ActorDefinition<State, Resources, Caches, Asks, Reply>,
): Actor<State, Resources, Caches, Asks, Reply> {
  if (definition === null || typeof definition !== 'object' || typeof definition.receive !== 'function') {
    throw new TypeError('defineActor() needs an object with a receive(state, req, ctx) function');
  }
  return Object.freeze({ ...definition, [BRAND]: true as const });
}

/** True for a value produced by defineActor (or shaped like one). */
export function isActor(value: unknown): value is Actor<unknown, unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { receive?: unknown }).receive === 'function';
}
