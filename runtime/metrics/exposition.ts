import type { IncomingMessage } from 'node:http';

/**
 * Whether a scraper's Accept header asks for OpenMetrics (Prometheus 2.x and later list it first);
 * anything else gets the Prometheus text format 0.0.4.
 */
export function wantsOpenMetrics(req: Pick<IncomingMessage, 'headers'>): boolean {
  return (req.headers.accept ?? '').includes('application/openmetrics-text');
}
