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

export function createLogger(role: 'primary' | 'worker' | 'pool' | 'thread', level = process.env['ACTORRT_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { role, pid: process.pid } }, prettyLogs() ? prettyStream() : pino.destination({ fd: 2, sync: true }));
}

/** Bytes of request lines (the access log) held before one write: whole lines, below PIPE_BUF (4096), so that lines of the instance's processes sharing one stderr pipe never interleave mid-line. */
const REQUEST_LINES_BUFFER = 2048;

/** A field of a request line: undefined ones are left out, as pino does. */
export type LineValue = string | number | boolean | undefined;

/** Where one line per request goes (the access log). */
export interface RequestLines {
  /** Write one info line with `fields` (in this order) and `msg`. */
  write(fields: Readonly<Record<string, LineValue>>, msg: string): void;
}

/**
 * One line per request (the access log), at info whatever ACTORRT_LOG_LEVEL says, in pino's JSON
 * shape (`level`, `time`, the process's bindings, `fields`, `msg`). Serialized here and buffered
 * up to 2 KB, flushed at least every second and at exit. Measured per line (300k lines): pino
 * 2.3 us, pino with a 2 KB sonic-boom buffer 0.8 us more than this (~0.5 us); with pino's one
 * write(2) per line the inline route served 0.65x of its req/s (bench/trace.ts). Pretty logs are
 * written as every other line is: for people, not throughput.
 */
export function requestLines(parent: Logger, bindings: Readonly<Record<string, string>>): RequestLines {
  if (prettyLogs()) return loggedLines(parent, bindings);
  const destination = pino.destination({ fd: 2, sync: true });
  let own = '';
  for (const [key, value] of Object.entries({ ...parent.bindings(), pid: process.pid, ...bindings })) own += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  let buffer = '';
  const flush = (): void => {
    if (buffer === '') return;
    const out = buffer;
    buffer = '';
    destination.write(out);
  };
  setInterval(flush, 1000).unref();
  process.once('exit', flush);
  return {
    write(fields, msg) {
      let line = `{"level":30,"time":${Date.now()}${own}`;
      for (const key in fields) {
        const value = fields[key];
        if (value !== undefined) line += `,"${key}":${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
      }
      buffer += `${line},"msg":${JSON.stringify(msg)}}\n`;
      if (buffer.length >= REQUEST_LINES_BUFFER) flush();
    },
  };
}

/** Request lines written through `parent` as every other line is (pretty logs, the test kit's recording), at info whatever its level. */
export function loggedLines(parent: Logger, bindings: Readonly<Record<string, string>>): RequestLines {
  const log = parent.child(bindings, { level: 'info' });
  return { write: (fields, msg) => log.info(fields, msg) };
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
