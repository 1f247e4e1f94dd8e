import type { InstanceStatus } from '../../../runtime/primary/status.js';
import { toSample, type Sample } from '../../../runtime/top/sample.js';

/** A value as prom-client's getMetricsAsJSON() writes it. */
export interface RawValue {
  readonly labels: Record<string, string>;
  readonly value: number;
  readonly metricName?: string;
}

/** Families by name: [type, values]. */
export type RawFamilies = Readonly<Record<string, readonly ['counter' | 'gauge' | 'histogram', readonly RawValue[]]>>;

const supervision = { 'actor-restart': 0, 'actor-stop': 0, escalation: 0, 'process-restart': 0, 'give-up': 0 };

/** An instance with two front workers, an inline pool `api`, an isolated pool `cpu` (2 processes) and a memory cache `local`. */
export function statusOf(over: Partial<InstanceStatus> = {}): InstanceStatus {
  return {
    pid: 100, url: 'http://127.0.0.1:8080', file: '/srv/app/actorrt.yml', uptime: 3725, workerRestarts: 1,
    workers: [{ index: 0, pid: 101, state: 'up', up: true }, { index: 1, pid: 102, state: 'up', up: true }],
    pools: [
      { name: 'api', kind: 'inline', size: 4, state: 'up', depth: 0, supervision },
      { name: 'cpu', kind: 'isolated', size: 1, state: 'up', processCount: 2, depth: 0, supervision },
    ],
    caches: [{ name: 'local', kind: 'memory', hits: 0, stale: 0, misses: 0, bypass: 0, errors: 0, available: true, routes: [] }],
    resources: [],
    metrics: { url: 'http://127.0.0.1:9464/metrics' },
    ...over,
  };
}

/** A sample taken at `at` seconds, through the same boundary check as the admin answer. */
export function sampleAt(at: number, families: RawFamilies, status: InstanceStatus = statusOf()): Sample {
  const answer = {
    status,
    families: Object.entries(families).map(([name, [type, values]]) => ({ name, help: name, type, aggregator: 'sum', values })),
  };
  return toSample(JSON.parse(JSON.stringify(answer)), at * 1000);
}

/**
 * `actorrt_http_requests_total` and the duration histogram of one label set: `buckets` are the
 * requests so far by the bucket (upper bound) they fell in, or a number of requests all under 10 ms.
 */
export function requests(pool: string, status: number, buckets: number | Readonly<Record<string, number>>, route = '/x'): RawFamilies {
  const labels = { method: 'GET', route, status: String(status), pool };
  const counts = typeof buckets === 'number' ? { '0.01': buckets } : buckets;
  return {
    actorrt_http_requests_total: ['counter', [{ labels, value: Object.values(counts).reduce((n, c) => n + c, 0) }]],
    http_server_request_duration_seconds: ['histogram', histogram(labels, counts)],
  };
}

const BOUNDS = ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5', '0.75', '1', '2.5', '5', '7.5', '10', '+Inf'];

/** A histogram series as prom-client writes it: cumulative `_bucket` values by `le`, `_sum`, `_count`; `counts` are per bucket (not cumulative). */
export function histogram(labels: Record<string, string>, counts: Readonly<Record<string, number>>): RawValue[] {
  let cumulative = 0;
  const out: RawValue[] = BOUNDS.map((le) => {
    cumulative += counts[le] ?? 0;
    return { metricName: 'http_server_request_duration_seconds_bucket', labels: { ...labels, le }, value: cumulative };
  });
  out.push({ metricName: 'http_server_request_duration_seconds_sum', labels, value: 0 }, { metricName: 'http_server_request_duration_seconds_count', labels, value: cumulative });
  return out;
}

/** Families merged: values of the same family concatenated. */
export function merge(...parts: readonly RawFamilies[]): RawFamilies {
  const out: Record<string, ['counter' | 'gauge' | 'histogram', RawValue[]]> = {};
  for (const part of parts) {
    for (const [name, [type, values]] of Object.entries(part)) {
      const have = out[name];
      if (have === undefined) out[name] = [type, [...values]];
      else have[1].push(...values);
    }
  }
  return out;
}

/** Per-process families for one process: cpu seconds, rss, lag p99, up. */
export function processFamilies(role: string, pool: string, index: number, pid: number, cpu: number, rss: number, lag: number, up = 1): RawFamilies {
  const labels = { role, pool, index: String(index), pid: String(pid) };
  return {
    actorrt_process_up: ['gauge', [{ labels, value: up }]],
    actorrt_process_cpu_seconds_total: ['counter', [{ labels, value: cpu }]],
    actorrt_process_resident_memory_bytes: ['gauge', [{ labels, value: rss }]],
    actorrt_process_event_loop_lag_p99_seconds: ['gauge', [{ labels, value: lag }]],
  };
}
