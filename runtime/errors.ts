/**
 * Every failure actorrt reports has a stable code. Callers branch on `code`, never on message text
 * (the undici `UND_ERR_*` habit). Codes that can reach an HTTP client carry the status they map to.
 * Each code is documented in docs/errors.md; test/runtime/errors.test.ts fails when one is not.
 */

export interface ErrorSpec {
  /** HTTP status when this error reaches a client; absent for errors that never do. */
  readonly status?: number;
  /** One line for docs and `--help`: what the code means. */
  readonly summary: string;
}

export const ERROR_CODES = {
  // Configuration (reported by `actorrt validate`, `start` and `reload`; never reach a client).
  ACTORRT_E_CONFIG_READ: { summary: 'The topology file could not be read (missing, a directory, no permission).' },
  ACTORRT_E_CONFIG_TOO_LARGE: { summary: 'The topology file is larger than 1 MiB.' },
  ACTORRT_E_CONFIG_EMPTY: { summary: 'The topology file is empty or holds only comments.' },
  ACTORRT_E_CONFIG_SYNTAX: { summary: 'The file is not valid YAML.' },
  ACTORRT_E_CONFIG_DUPLICATE_KEY: { summary: 'A mapping repeats a key.' },
  ACTORRT_E_CONFIG_ALIAS_LIMIT: { summary: 'YAML aliases expand past the safety limit (a "billion laughs" file).' },
  ACTORRT_E_CONFIG_TOO_DEEP: { summary: 'The document nests deeper than the loader accepts.' },
  ACTORRT_E_CONFIG_ROOT: { summary: 'The document root is not a mapping.' },
  ACTORRT_E_CONFIG_VERSION: { summary: 'The `version` key is missing or names a version this actorrt does not know.' },
  ACTORRT_E_CONFIG_UNKNOWN_KEY: { summary: 'A key the schema does not define (typos are never silently ignored).' },
  ACTORRT_E_CONFIG_MISSING_KEY: { summary: 'A required key is absent.' },
  ACTORRT_E_CONFIG_TYPE: { summary: 'A value has the wrong type (a list where a mapping goes, a string where a number goes).' },
  ACTORRT_E_CONFIG_VALUE: { summary: 'A value is out of range, not one of the allowed values, or badly formed.' },
  ACTORRT_E_CONFIG_DURATION: { summary: 'A duration is not a number of milliseconds nor a string like `250ms`, `10s`, `5m`, `1h`.' },
  ACTORRT_E_CONFIG_SIZE: { summary: 'A size is not a number of bytes nor a string like `512kb`, `1mb`.' },
  ACTORRT_E_CONFIG_ENV: { summary: 'A `${env:NAME}` placeholder names a variable that is not set and has no default.' },
  ACTORRT_E_CONFIG_UNKNOWN_REF: { summary: 'A name refers to a pool, resource or cache that the file does not declare.' },
  ACTORRT_E_CONFIG_REF_TYPE: { summary: 'A reference names something of the wrong kind (a redis cache bound to a sqlite resource).' },
  ACTORRT_E_CONFIG_ROUTE_TARGET: { summary: 'A route must name exactly one of `pool` or `proxy`.' },
  ACTORRT_E_CONFIG_ROUTE_PATH: { summary: 'A route path is not a valid pattern (`/users/:id`, `/files/*`).' },
  ACTORRT_E_CONFIG_ROUTE_CONFLICT: { summary: 'A route can never match because an earlier route with the same method, path and conditions takes all its requests.' },
  ACTORRT_E_CONFIG_ACTOR_MODULE: { summary: 'A pool names an actor module file that does not exist.' },
  ACTORRT_E_CONFIG_FILE_NOT_FOUND: { summary: 'A file the topology names (an SQL init script) does not exist.' },
  ACTORRT_E_CONFIG_INVALID: { summary: 'The topology has one or more errors; each is listed with its own code.' },

  // Request path (each reaches the client as JSON with the status shown).
  ACTORRT_E_NOT_FOUND: { status: 404, summary: 'No route matches the request path (or none of the routes on it accepts its headers, query or body).' },
  ACTORRT_E_METHOD_NOT_ALLOWED: { status: 405, summary: 'A route matches the path but not the method; the `Allow` header lists the methods that do.' },
  ACTORRT_E_BAD_PATH: { status: 400, summary: 'The request path climbs above the root with `..` segments (plain, percent-encoded, or hidden behind an encoded slash or a backslash), or has a malformed percent-encoding; other dot segments are resolved before routing.' },
  ACTORRT_E_BAD_JSON: { status: 400, summary: 'The request declares a JSON body that does not parse.' },
  ACTORRT_E_BODY_TOO_LARGE: { status: 413, summary: 'The request body is larger than `http.limits.bodyBytes`.' },
  ACTORRT_E_BAD_REQUEST: { status: 400, summary: 'The request is not valid HTTP (answered before any route is tried; the connection is closed).' },
  ACTORRT_E_HEADERS_TOO_LARGE: { status: 431, summary: "The request headers exceed node:http's header size limit." },
  ACTORRT_E_REQUEST_TIMEOUT: { status: 408, summary: 'The client took longer than `http.limits.headersTimeout` to send the headers, or `requestTimeout` to send the request.' },
  ACTORRT_E_MAILBOX_FULL: { status: 503, summary: "Every actor of the pool has a full mailbox; retry after the `Retry-After` seconds." },
  ACTORRT_E_TIMEOUT: { status: 504, summary: "The actor did not reply within the pool's (or route's) `timeout`; a late reply is dropped." },
  ACTORRT_E_ACTOR_FAILED: { status: 500, summary: 'The actor threw while handling this request; it is restarted per its supervision, and the request is not retried.' },
  ACTORRT_E_BAD_REPLY: { status: 500, summary: 'The actor returned a reply actorrt cannot send (a status outside 100-599, a body that does not serialize).' },
  ACTORRT_E_RESOURCE_TIMEOUT: { status: 504, summary: "A database statement ran past the resource's statementTimeout and was cancelled." },
  ACTORRT_E_REPLY_TOO_LARGE: { status: 500, summary: 'An isolated pool replied with more than a channel frame carries (64 MiB).' },
  ACTORRT_E_BAD_FRAME: { status: 502, summary: 'A frame between actorrt processes (a request to an isolated pool, or its reply) failed its check at the boundary; only that request fails when its id can be read, else the connection is closed.' },
  ACTORRT_E_ACTOR_CRASHED: { status: 502, summary: 'The pool process handling the request exited before replying; the request is not retried.' },
  ACTORRT_E_THREAD_LOST: { status: 503, summary: "The worker thread handling the request was replaced before replying (it ran out of its pool's `maxHeap`, its event loop stopped answering within the watchdog bound, or its actors escalated); the request is not retried, the pool serves on." },
  ACTORRT_E_POOL_DOWN: { status: 503, summary: 'The pool gave up after too many restarts, or is stopping; other routes keep serving.' },
  ACTORRT_E_RESOURCE_UNAVAILABLE: { status: 503, summary: 'A resource the request needs (database, Redis, upstream) cannot be reached right now; the runtime reconnects on its own.' },
  ACTORRT_E_UPSTREAM_UNAVAILABLE: { status: 502, summary: "A proxy route could not connect to any origin of its upstream, or the upstream broke the connection." },
  ACTORRT_E_UPSTREAM_TIMEOUT: { status: 504, summary: "The upstream of a proxy route did not send its headers (or the rest of its body) in time." },
  ACTORRT_E_NOT_CACHED: { status: 504, summary: "The request said only-if-cached and no stored reply could answer it (RFC 9111 section 5.2.1.7)." },
  ACTORRT_E_UPGRADE_UNSUPPORTED: { status: 400, summary: 'The request asks to switch protocols (`Upgrade`) where no route relays it: a WebSocket handshake on a pool route (only proxy routes relay upgrades), or an upgrade request that carries a body; the connection is closed.' },
  ACTORRT_E_METRICS_UNAVAILABLE: { status: 503, summary: 'A request for `http.metricsPath` could not be answered: the primary did not send the metrics within 5 s (it is busy or shutting down).' },
  ACTORRT_E_NOT_READY: { status: 503, summary: 'The instance is starting or shutting down (`/readyz` answers this while not ready; an upgrade that reaches a draining front worker gets it with `Retry-After`).' },
  ACTORRT_E_UNKNOWN_POOL: { status: 500, summary: '`ctx.ask` named a pool that this topology does not declare.' },
  ACTORRT_E_UNKNOWN_CACHE: { status: 500, summary: '`ctx.caches.<name>` was used after a reload removed that cache from the topology.' },
  ACTORRT_E_BAD_ARGUMENT: { status: 500, summary: 'An actor passed an SDK call a value it cannot take (a `ctx.caches` ttl that is not a duration).' },
  ACTORRT_E_INTERNAL: { status: 500, summary: 'A bug in actorrt; the log line with the same request id has the stack trace.' },

  // Start-up and lifecycle.
  ACTORRT_E_ACTOR_MODULE: { summary: 'An actor module failed to load, or its default export is not an actor (use defineActor).' },
  ACTORRT_E_ACTOR_INIT: { summary: "An actor's init() threw while the pool was starting." },
  ACTORRT_E_STARTUP: { summary: 'A worker process failed to start; the message names the cause.' },
  ACTORRT_E_PROTOCOL_VERSION: { summary: 'A child process speaks another version of the primary <-> child protocol than the primary (a newer install under an older running primary); it is refused.' },
  ACTORRT_E_BAD_MESSAGE: { summary: 'A message between actorrt processes failed its check at the boundary (a bug, or a process of another build); it was dropped and logged.' },
  ACTORRT_E_RESOURCE_UNREACHABLE: { summary: 'A resource could not be reached at start-up after its `startup.retries`; the message names it, its address (credentials redacted) and the cause.' },
  ACTORRT_E_RESOURCE_FAILED: { summary: 'A resource was reached but could not be opened (bad credentials, missing database, a failing SQLite `init` script).' },
  ACTORRT_E_ALREADY_RUNNING: { summary: '`actorrt start` found this topology already running (its pid file names a live instance).' },
  ACTORRT_E_PERMISSION: { summary: 'A folder actorrt must keep private is not: the runtime folder\'s parent is world-writable without the sticky bit (start), or the instance\'s runtime folder belongs to another user or is open to others (stop, status, reload, scale).' },
  ACTORRT_E_NOT_RUNNING: { summary: '`actorrt stop`, `status`, `top`, `reload` or `scale` found no running instance for that topology, or nothing listens on its admin socket (the primary has exited or is shutting down).' },
  ACTORRT_E_ADMIN_UNAVAILABLE: { summary: 'A running primary did not answer on its admin socket (`status`, `reload`, `scale`): no answer in time, or the connection was dropped (it is paused, overloaded or out of file descriptors).' },
  ACTORRT_E_RELOAD_REFUSED: { summary: 'A reload or scale asked for a change a running instance cannot take (`http.port`, `http.host`): restart the instance to apply it; or it came while the instance is stopping. Nothing was changed.' },
  ACTORRT_E_METRICS_LISTEN: { summary: 'The metrics listener (`admin.metrics`) could not bind its address (another process holds the port); the instance serves on without it and says so in its log and `actorrt status`.' },
  ACTORRT_E_RELOAD_FAILED: { summary: 'A reload could not be applied (a new process failed to start, or a process could not apply the topology); the processes it started were stopped and the previous topology keeps serving.' },
  ACTORRT_E_PROFILE_TARGET: { summary: '`actorrt profile` named a pool, process index or pid the running instance does not have (or a process that is not serving); the message lists the ones it has.' },
  ACTORRT_E_PROFILE_BUSY: { summary: 'A profile of that process is already running (the inspector allows one profiler per process).' },
  ACTORRT_E_PROFILE_MEMORY: { summary: 'A heap snapshot was refused: it needs memory beside the heap (16 times the live heap: the worst measured growth, for heaps of many small objects), and the process has less below its maxRss, its cgroup memory limit or the free memory of the machine (the message names each).' },
  ACTORRT_E_PROFILE_FAILED: { summary: 'A profile was started but not written: the process exited or stopped answering during it, or the file could not be written.' },

  // Command line.
  ACTORRT_E_USAGE: { summary: 'The command line is wrong: unknown command, missing argument or unknown option.' },
  ACTORRT_E_INIT_EXISTS: { summary: '`actorrt init` would overwrite files that already exist.' },

  // Test kit (actorrt/testing).
  ACTORRT_E_TEST_KIT: { summary: 'The test kit was given something it cannot use (a replacement for a resource the topology does not declare, a request without a path, an actor used after stop()); the message names the option.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ActorrtErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
}

/** Base class of every error actorrt raises on purpose. */
export class ActorrtError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: ActorrtErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ActorrtError';
    this.code = code;
    this.hint = options.hint;
  }

  /** HTTP status for this error when it reaches a client (500 if the code has none). */
  get status(): number {
    const spec: ErrorSpec = ERROR_CODES[this.code];
    return spec.status ?? 500;
  }
}

/** Whether `code` is one of ours (a code read from another process or an older build may not be). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/**
 * Re-create an error that crossed a process boundary as the same coded error (moleculer's habit).
 * A code this build does not know becomes ACTORRT_E_INTERNAL, with the foreign code kept in the
 * message so nothing is lost.
 */
export function reviveError(code: string, message: string, hint?: string): ActorrtError {
  const options = hint === undefined ? {} : { hint };
  return isErrorCode(code) ? new ActorrtError(code, message, options) : new ActorrtError('ACTORRT_E_INTERNAL', `${code}: ${message}`, options);
}
