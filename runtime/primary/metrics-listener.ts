import { createServer, type Server } from 'node:http';
import { wantsOpenMetrics } from '../metrics/exposition.js';
import { ActorrtError } from '../errors.js';
import { hostForUrl } from './listener.js';
import type { Logger } from '../logger.js';

/** The body and content type of one scrape (Prometheus text, or OpenMetrics when the scraper asked for it). */
export interface Exposition { readonly contentType: string; readonly body: string }


/**
 * The admin metrics listener (`admin.metrics`, 127.0.0.1:9464 by default): GET /metrics and
 * nothing else, apart from the service's port so it is never public by accident. Resolves once
 * it listens; rejects with ACTORRT_E_METRICS_LISTEN when the address cannot be bound.
 */
export function serveMetrics(host: string, port: number, expose: (openMetrics: boolean) => Promise<Exposition>, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(path === '/metrics' ? 405 : 404, { 'content-type': 'text/plain; charset=utf-8', ...(path === '/metrics' ? { allow: 'GET, HEAD' } : {}) });
      res.end(path === '/metrics' ? 'only GET and HEAD\n' : 'not found: metrics are served at /metrics\n');
      return;
    }
    expose(wantsOpenMetrics(req)).then((out) => {
      res.writeHead(200, { 'content-type': out.contentType, 'content-length': Buffer.byteLength(out.body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : out.body);
    }, (err: unknown) => {
      log.error({ err, code: 'ACTORRT_E_INTERNAL' }, 'a metrics scrape failed');
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('actorrt could not collect its metrics; see the primary\'s log\n');
    });
  });
  // Scrapers keep their connection; a stuck one must not hold the primary's descriptors for ever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5000;
  server.maxConnections = 64;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ActorrtError('ACTORRT_E_METRICS_LISTEN',
      `the metrics listener could not bind ${hostForUrl(host)}:${port} (${err.code ?? err.message})`, { hint: bindHint(err.code), cause: err })));
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => log.error({ err }, 'metrics listener error'));
      resolve(server);
    });
  });
}

/** What to do about a bind failure, by its errno code. */
function bindHint(code: string | undefined): string {
  if (code === 'EADDRINUSE') return 'another process (another actorrt instance?) holds that port: give this topology its own admin.metrics address, port 0 for any free one, or admin.metrics: false';
  if (code === 'EACCES') return 'ports below 1024 need privileges: choose a port above 1024 (9464 is the usual one)';
  if (code === 'ENOTFOUND' || code === 'EADDRNOTAVAIL' || code === 'EAI_AGAIN') return 'the host is not an address of this machine: use 127.0.0.1, 0.0.0.0, ::1, or one of its interfaces\' addresses';
  return 'check admin.metrics, or set admin.metrics: false';
}
