import { methodLabel } from '../http-method.js';
import { DURATION_BUCKETS } from '../protocol/metric-families.js';
import type { MetricSeries, MetricsSnapshot } from '../protocol/shapes.js';


/** One histogram series over DURATION_BUCKETS: its label values, observations per bucket (the last is +Inf), their sum. */
export class Histogram {
  readonly buckets: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;
  constructor(readonly labels: readonly string[]) {}

  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++;
    (this.buckets[i] as number)++;
    this.sum += seconds;
    this.count++;
  }

  series(): MetricSeries {
    return { labels: this.labels, value: this.sum, buckets: [...this.buckets] };
  }
}

/** Plain counters by label values. */
class Counts {
  private readonly byKey = new Map<string, { labels: readonly string[]; value: number }>();

  add(labels: readonly string[], n = 1): void {
    const key = labels.join('\n');
    const c = this.byKey.get(key);
    if (c === undefined) this.byKey.set(key, { labels, value: n });
    else c.value += n;
  }

  series(): MetricSeries[] {
    return [...this.byKey.values()].map((c) => ({ labels: c.labels, value: c.value }));
  }
}

/**
 * What a front worker counts of the requests it serves, on the hot path: plain numbers in maps
 * keyed by label values, turned into metric series only when the primary scrapes (the way the
 * issue's anchors fail is by doing label work per request: Moleculer loses 68% of its local-call
 * throughput with metrics on). One request costs a key join, a map lookup and a bucket scan.
 */
export class RequestMetrics {
  private readonly requests = new Map<string, Histogram>();
  private readonly upstreams = new Map<string, Histogram>();
  private readonly upstreamErrors = new Counts();
  private readonly rejections = new Counts();
  private readonly timeouts = new Counts();
  private readonly clientErrors = new Counts();
  /** Client connections open now. */
  connections = 0;

  /**
   * A response finished (or the client left: status 499). `route` is the route pattern ('' when
   * none matched), `pool` the pool or upstream that served it ('' when none did); seconds since arrival.
   */
  request(method: string, route: string, status: number, pool: string, seconds: number): void {
    const m = methodLabel(method);
    const key = `${m} ${status} ${pool}\n${route}`;
    let h = this.requests.get(key);
    if (h === undefined) {
      h = new Histogram([m, route, String(status), pool]);
      this.requests.set(key, h);
    }
    h.observe(seconds);
  }

  /** A proxied request ended: the upstream's status (0 when it gave no usable reply). */
  upstream(name: string, status: number, seconds: number): void {
    const key = `${status} ${name}`;
    let h = this.upstreams.get(key);
    if (h === undefined) {
      h = new Histogram([name, String(status)]);
      this.upstreams.set(key, h);
    }
    h.observe(seconds);
  }

  upstreamError(name: string, code: string): void {
    this.upstreamErrors.add([name, code]);
  }

  /** A pool refused a request with MAILBOX_FULL. */
  rejected(pool: string): void {
    this.rejections.add([pool]);
  }

  /** A pool did not answer within its timeout. */
  timedOut(pool: string): void {
    this.timeouts.add([pool]);
  }

  /** A connection answered with `status` before a request was parsed (node:http's clientError). */
  clientError(status: number): void {
    this.clientErrors.add([String(status)]);
  }

  /** Everything counted so far, as the catalog's families. */
  snapshot(): MetricsSnapshot {
    const requests = [...this.requests.values()];
    return {
      http_server_request_duration_seconds: requests.map((h) => h.series()),
      actorrt_http_requests_total: requests.map((h) => ({ labels: h.labels, value: h.count })),
      actorrt_http_open_connections: [{ labels: [], value: this.connections }],
      actorrt_http_client_errors_total: this.clientErrors.series(),
      actorrt_pool_rejections_total: this.rejections.series(),
      actorrt_pool_timeouts_total: this.timeouts.series(),
      actorrt_upstream_request_duration_seconds: [...this.upstreams.values()].map((h) => h.series()),
      actorrt_upstream_errors_total: this.upstreamErrors.series(),
    };
  }
}
