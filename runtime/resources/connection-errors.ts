/**
 * Whether an error means "the server behind a resource cannot be reached right now" (as opposed
 * to a bad query or a bug in an actor). Such errors answer 503 RESOURCE_UNAVAILABLE and do not
 * count as actor crashes: a database restart must not make supervision give a pool up.
 */

/** Socket-level codes from node:net, undici and the drivers. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN',
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  // SQLite: the file cannot be opened or read (disk gone, permissions changed).
  'SQLITE_CANTOPEN', 'SQLITE_IOERR',
]);

/** PostgreSQL SQLSTATEs: class 08 (connection exception) and the server shutting down or starting. */
const PG_UNAVAILABLE = /^(08...|57P0[1-3]|53300)$/;

/** node-redis error classes raised while the client is disconnected or reconnecting. */
const REDIS_UNAVAILABLE = new Set([
  'ClientClosedError', 'ClientOfflineError', 'ConnectionTimeoutError', 'SocketClosedUnexpectedlyError', 'ReconnectStrategyError', 'SocketTimeoutError',
]);

/** pg reports lost and timed-out connections as plain Errors; these are its messages. */
const PG_MESSAGES = [/^Connection terminated/, /timeout exceeded when trying to connect/, /^Client has encountered a connection error/];

/** True when `err` (or its cause, or one of an AggregateError's errors) is a connection failure. */
export function isConnectionError(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || PG_UNAVAILABLE.test(e.code))) return true;
  if (REDIS_UNAVAILABLE.has(className(err))) return true;
  if (typeof e.message === 'string' && PG_MESSAGES.some((re) => re.test(e.message as string))) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isConnectionError(inner, depth + 1))) return true;
  return isConnectionError(e.cause, depth + 1);
}

/** True for PostgreSQL cancelling a statement that ran past `statement_timeout` (SQLSTATE 57014). */
export function isStatementTimeout(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e !== null && typeof e === 'object' && e.code === '57014' && typeof e.message === 'string' && /statement timeout/.test(e.message);
}

/** The error's class name: node-redis errors keep `name` = 'Error', so only the constructor tells them apart. */
export function className(err: object): string {
  const name = (err as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? name : '';
}

/** The code or class name of a connection failure, for messages (`ECONNREFUSED`). */
export function causeOf(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; errors?: unknown } | null;
  if (e === null || typeof e !== 'object') return String(err);
  // SQLite's codes are terse (SQLITE_CANTOPEN); its message says what it could not do.
  if (typeof e.code === 'string' && e.code.startsWith('SQLITE_') && typeof e.message === 'string') return `${e.code} (${e.message})`;
  if (typeof e.code === 'string' && e.code !== '') return e.code;
  if (Array.isArray(e.errors) && e.errors.length > 0) return causeOf(e.errors[0]);
  const kind = className(e) !== 'Error' && className(e) !== '' ? className(e) : typeof e.name === 'string' && e.name !== 'Error' ? e.name : undefined;
  if (kind !== undefined) return `${kind}${typeof e.message === 'string' && e.message !== '' ? `: ${e.message}` : ''}`;
  return typeof e.message === 'string' ? e.message : String(err);
}
