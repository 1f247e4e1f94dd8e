import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';

export type { Logger };

/**
 * One JSON line per event on stderr (stdout is for the ready line and command output). Every line
 * carries the process role and pid; request-scoped lines add `requestId`, pool lines add `pool`.
 */
/**
 * Whether the `n`-th occurrence (from 1) of an event another process can repeat at will (a child
 * sending junk) is worth a log line: the first five, then one per thousand, each line carrying `n`,
 * so a flood costs a handful of lines and still shows its size.
 */
export function worthLogging(n: number): boolean {
  return n <= 5 || n % 1000 === 0;
}

export function createLogger(role: 'primary' | 'worker' | 'pool', level = process.env['ACTORRT_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { role, pid: process.pid } }, prettyLogs() ? prettyStream() : pino.destination({ fd: 2, sync: true }));
}

/** The environment variable that picks the log format: `pretty` or `json`. `actorrt start --pretty` sets it; child processes inherit it. */
export const LOG_FORMAT = 'ACTORRT_LOG_FORMAT';

/**
 * Whether log lines are written for people (pino-pretty) rather than as JSON: ACTORRT_LOG_FORMAT
 * says so (`pretty` / `json`), else when stderr is a terminal. A pipe, a file or a log collector
 * gets JSON unless asked.
 */
export function prettyLogs(env: NodeJS.ProcessEnv = process.env, terminal = process.stderr.isTTY === true): boolean {
  const format = env[LOG_FORMAT];
  if (format === 'pretty') return true;
  if (format === 'json') return false;
  return terminal;
}

/**
 * pino-pretty in this process, writing synchronously to stderr as the JSON destination does (no
 * worker thread: every process of the instance writes its own lines, in order, up to its exit).
 * Loaded only when asked for, so JSON processes never pay for it.
 */
function prettyStream(): DestinationStream {
  const require = createRequire(import.meta.url);
  const build = require('pino-pretty') as (options: PrettyOptions) => DestinationStream;
  return build({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, singleLine: true, ignore: 'hostname', translateTime: 'SYS:HH:MM:ss.l' });
}
