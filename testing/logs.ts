import { pino, type Logger } from 'pino';

/** One log line as the test kit recorded it: pino's fields, `level` as its name. */
export interface LogRecord {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly msg?: string;
  readonly [field: string]: unknown;
}

const LEVELS: Readonly<Record<number, LogRecord['level']>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** What the kit's logger writes to: the records (in order) and, when asked, stderr too. */
export interface RecordingLog {
  readonly logger: Logger;
  readonly records: LogRecord[];
}

/**
 * A pino logger whose lines are kept as records instead of written (the runtime's own logger,
 * so the fields are the ones `actorrt start` prints). `print` also writes them to stderr, for a
 * test being debugged. Level: `level`, else ACTORRT_LOG_LEVEL, else `debug` (a test reads what
 * it wants; nothing reaches the terminal unless printed).
 */
export function recordingLog(level = process.env['ACTORRT_LOG_LEVEL'] ?? 'debug', print = false): RecordingLog {
  const records: LogRecord[] = [];
  const destination = {
    write(line: string): void {
      if (print) process.stderr.write(line);
      const parsed = JSON.parse(line) as Record<string, unknown>;
      records.push({ ...parsed, level: LEVELS[Number(parsed['level'])] ?? 'info' });
    },
  };
  return { logger: pino({ level, base: { role: 'test', pid: process.pid } }, destination), records };
}
