import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One JSON line per event on stderr (stdout is for the ready line and command output). Every line
 * carries the process role and pid; request-scoped lines add `requestId`, pool lines add `pool`.
 */
export function createLogger(role: 'primary' | 'worker' | 'pool', level = process.env['ACTORRT_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { role, pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
