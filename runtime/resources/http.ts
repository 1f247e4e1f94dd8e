import { connect } from 'node:net';
import { BalancedPool, Pool, request, RetryAgent, type Dispatcher } from 'undici';
import type { HttpResource } from '../../config/types.js';
import type { Logger } from '../logger.js';
import { redactUrl } from './address.js';
import { causeOf } from './connection-errors.js';
import type { Opened } from './driver.js';

/** How long one health probe (TCP connect or GET) may take. */
const PROBE_TIMEOUT_MS = 2000;

/** An upstream HTTP service: what actors get on ctx.resources and what proxy routes forward through. */
export interface HttpUpstream {
  /** Pool (one origin) or BalancedPool (several), with retries of idempotent requests on connection errors. */
  readonly dispatcher: Dispatcher;
  readonly origins: readonly string[];
  /** Origins currently taken out of the balancer by the health check. */
  readonly unhealthy: ReadonlySet<string>;
}

/** Told the origins the health check has taken out (redacted), and why when that is all of them. */
export type OriginsListener = (out: readonly string[], error: string | undefined) => void;

/**
 * Open an upstream: one origin -> undici Pool, several -> BalancedPool (which also lowers the
 * weight of an origin that errors). With `healthCheck`, each origin is probed every `interval`;
 * a failing origin is taken out of the balancer and put back once it answers again. Retries
 * (undici's RetryAgent) cover connection errors of idempotent methods only: an upstream's own
 * 5xx reply is the upstream's answer and passes through unchanged.
 */
export async function openHttp(name: string, resource: HttpResource, log: Logger, onOrigins: OriginsListener = () => {}): Promise<Opened<HttpUpstream>> {
  const options: Pool.Options = {
    connections: resource.connections,
    pipelining: resource.pipelining,
    keepAliveTimeout: resource.keepAliveTimeout,
    headersTimeout: resource.headersTimeout,
    bodyTimeout: resource.bodyTimeout,
  };
  const origins = resource.origins;
  const balanced = origins.length > 1 ? new BalancedPool([...origins], options) : undefined;
  const base: Dispatcher = balanced ?? new Pool(origins[0] as string, options);
  const dispatcher: Dispatcher = resource.retries === 0 ? base : new RetryAgent(base, {
    maxRetries: resource.retries,
    minTimeout: 50,
    maxTimeout: 1000,
    statusCodes: [],
    methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'],
  });
  const unhealthy = new Set<string>();

  const probe = async (origin: string): Promise<void> => {
    if (resource.healthCheck === undefined) return tcpProbe(origin);
    const { statusCode, body } = await request(`${origin}${resource.healthCheck.path}`, {
      method: 'GET', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), headers: { 'user-agent': 'actorrt-health-check' },
    });
    await body.dump();
    if (statusCode >= 500) throw new Error(`health check ${resource.healthCheck.path} answered ${statusCode}`);
  };

  /** Probe every origin; take failing ones out of the balancer, put recovered ones back. Throws if none answers. */
  const checkAll = async (): Promise<void> => {
    const results = await Promise.allSettled(origins.map(probe));
    let firstError: unknown;
    let changed = false;
    results.forEach((result, i) => {
      const origin = origins[i] as string;
      if (result.status === 'rejected') {
        firstError ??= result.reason;
        if (!unhealthy.has(origin)) {
          unhealthy.add(origin);
          changed = true;
          log.warn({ resource: name, origin: redactUrl(origin), err: (result.reason as Error).message, event: 'origin-out' }, 'upstream origin unhealthy; taken out');
          // Never empty the balancer: with every origin down, requests fail fast with 502 either way.
          if (balanced !== undefined && unhealthy.size < origins.length) balanced.removeUpstream(origin);
        }
      } else if (unhealthy.delete(origin)) {
        changed = true;
        log.info({ resource: name, origin: redactUrl(origin), event: 'origin-back' }, 'upstream origin healthy again; put back');
        if (balanced !== undefined && !balanced.upstreams.includes(origin)) balanced.addUpstream(origin);
      }
    });
    // The cause as the request path reports it (ECONNREFUSED), so status reads the same whichever saw it last.
    if (changed) onOrigins([...unhealthy].map(redactUrl), unhealthy.size === origins.length ? causeOf(firstError) : undefined);
    if (unhealthy.size === origins.length) throw firstError;
  };

  let timer: NodeJS.Timeout | undefined;
  const upstream: HttpUpstream = { dispatcher, origins, unhealthy };
  return {
    client: upstream,
    check: async () => {
      await checkAll();
      if (resource.healthCheck !== undefined && timer === undefined) {
        timer = setInterval(() => { checkAll().catch(() => {}); }, resource.healthCheck.interval).unref();
      }
    },
    close: async () => {
      clearInterval(timer);
      await dispatcher.close();
    },
  };
}

/** A TCP connect to the origin: proves something listens there without sending a request. */
function tcpProbe(origin: string): Promise<void> {
  const url = new URL(origin);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port, timeout: PROBE_TIMEOUT_MS });
    socket.once('connect', () => { socket.destroy(); resolve(); });
    socket.once('timeout', () => { socket.destroy(); reject(Object.assign(new Error(`connect to ${url.host} timed out`), { code: 'ETIMEDOUT' })); });
    socket.once('error', reject);
  });
}
