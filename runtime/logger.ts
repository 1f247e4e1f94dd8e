import { pino, type Logger } from 'pino';

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
  return pino({ level, base: { role, pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
