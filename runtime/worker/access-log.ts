import type { AccessLogConfig } from '../../config/types.js';
import type { RequestLines } from '../logger.js';

/** What one access log line says about a finished request. */
export interface AccessEntry {
  readonly method: string;
  /** The route's path pattern (`/users/:id`); undefined when no route matched (404, 405, health paths). */
  readonly route: string | undefined;
  /** The request path without its query string (queries often carry tokens). */
  readonly path: string;
  /** The status sent; 499 when the client left before a status was sent (nginx's convention). */
  readonly status: number;
  /** From the request's arrival to the response's end (or the client leaving), in milliseconds. */
  readonly durationMs: number;
  /** Bytes written to the connection for this response: status line, headers and body. */
  readonly bytes: number;
  readonly requestId: string;
  /** The client address as resolved under `http.trustProxy`. */
  readonly client: string;
  readonly traceId: string;
  /** The client left before the whole response was sent. */
  readonly aborted: boolean;
  readonly userAgent: string | undefined;
}

/**
 * The access log: one pino line per request, `event: "access"`, on the process's stderr like every
 * other line (so whatever collects actorrt's logs collects it, and one JSON parser reads both). At
 * info level, but written whatever ACTORRT_LOG_LEVEL says: turning it on in the topology is the
 * choice that counts (logger.ts requestLines: buffered, whole lines). No file of its own:
 * rotation and reopening belong to what collects stderr (journald, Docker, Kubernetes), and
 * `jq 'select(.event == "access")'` separates the lines.
 */
export class AccessLog {
  /** `lines`: requestLines(the worker's log, { event: 'access' }). */
  constructor(private readonly lines: RequestLines) {}

  write(entry: AccessEntry, config: AccessLogConfig): void {
    const { method, route, path, status, durationMs, bytes, requestId, client, traceId, aborted, userAgent } = entry;
    this.lines.write({
      method, route, path, status, durationMs: Math.round(durationMs * 1000) / 1000, bytes, requestId, client, traceId,
      aborted: aborted ? true : undefined, userAgent: config.userAgent ? userAgent : undefined,
    }, `${method} ${path} ${status}`);
  }
}
