import type { ActorLogger, ActorRequest } from '../../actors/index.js';
import type { Logger } from '../logger.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * `ctx.log`: the pool's logger, whose lines carry the `requestId` and `traceId` of the request the
 * actor is handling when it logs (`current`), so one request's lines can be found across
 * processes. Fields are added only for a level that is enabled: a disabled `debug` costs nothing.
 */
export function actorLogger(log: Logger, current: () => ActorRequest | undefined): ActorLogger {
  const at = (level: Level) => (obj: object | string, msg?: string): void => {
    if (!log.isLevelEnabled(level)) return;
    const req = current();
    if (req === undefined) {
      if (typeof obj === 'string') log[level](obj);
      else log[level](obj, msg);
      return;
    }
    const ids = { requestId: req.requestId, traceId: req.trace.traceId };
    if (typeof obj === 'string') log[level](ids, obj);
    // pino serializes an Error given alone as `err`; kept so beside the ids.
    else if (obj instanceof Error) log[level]({ ...ids, err: obj }, msg ?? obj.message);
    else log[level]({ ...ids, ...obj }, msg);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
