import { randomBytes } from 'node:crypto';

const WELL_FORMED = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * Request ids: an incoming `x-request-id` is kept when well-formed (so a trace spans proxies),
 * otherwise a new one is made from a random per-process prefix and a counter: unique across
 * processes and restarts, and cheaper than a UUID per request.
 */
export class RequestIds {
  private readonly prefix = randomBytes(6).toString('base64url');
  private counter = 0;

  /** The id to use for a request carrying `incoming` (the raw header value, if any). */
  forRequest(incoming: string | string[] | undefined): string {
    if (typeof incoming === 'string' && WELL_FORMED.test(incoming)) return incoming;
    return this.next();
  }

  /** A fresh id. */
  next(): string {
    this.counter = (this.counter + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.prefix}-${this.counter.toString(36)}`;
  }
}
