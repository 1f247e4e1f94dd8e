import type { AutoscaleStatus } from '../autoscale/autoscaler.js';
import type { InstanceStatus, ReloadOutcome } from '../primary/status.js';
import type { FamilySample, MetricSample, Sample } from './sample.js';

/**
 * Two samples of the instance's metrics -> the rows `actorrt top` shows. Pure: time comes in the
 * samples. Rates follow Prometheus' `rate()` over the interval between the two samples: a
 * counter's increase is `after - before`, or `after` when it went down (a reset; the primary
 * keeps the instance's counters monotonic, so this only guards against a surprise), divided by
 * the seconds between the samples. Without an earlier sample, or for a per-process series that
 * was not there before (a new process), a rate is undefined (shown `-`), never negative nor NaN.
 */

/** One pool (or the upstream of proxy routes, or the front actor itself) over the interval. */
export interface PoolRow {
  /** The pool, the upstream (kind `proxy`) or `(front)` for what the front actor answered itself (health, 404s). */
  readonly name: string;
  readonly kind: 'inline' | 'threads' | 'isolated' | 'proxy' | 'front';
  readonly state: 'up' | 'starting' | 'down' | undefined;
  /** Actors per process. */
  readonly size: number | undefined;
  /** Processes serving it now, of those configured (inline pools: the front workers, which each run it). */
  readonly processes: { readonly running: number; readonly configured: number } | undefined;
  /** Requests answered per second (`actorrt_http_requests_total`). */
  readonly requestRate: number | undefined;
  /** Of those, answered with a 5xx status per second. */
  readonly errorRate: number | undefined;
  /** Latency quantiles over the interval, seconds (from `http_server_request_duration_seconds` bucket increases). */
  readonly p50: number | undefined;
  readonly p99: number | undefined;
  readonly inFlight: number | undefined;
  /** Requests waiting in its mailboxes (not running yet). */
  readonly queue: number | undefined;
  /** Actor and process restarts since the instance started. */
  readonly restarts: number | undefined;
  /** Autoscaled pools: bounds, signal and the scaler's last word. */
  readonly autoscale?: AutoscaleStatus;
  /** Why supervision gave it up. */
  readonly down: string | undefined;
}

/** One process of the instance (the primary included). */
export interface ProcessRow {
  readonly role: 'primary' | 'front' | 'pool';
  /** The isolated pool it runs ('' for the primary and front workers). */
  readonly pool: string;
  readonly index: number;
  readonly pid: number;
  /** It answered the last scrape in time (false: its last known values are shown). */
  readonly up: boolean;
  /** Share of one core used over the interval (1 = one core busy). */
  readonly cpu: number | undefined;
  readonly rss: number | undefined;
  /** Event-loop delay, 99th percentile, seconds. */
  readonly lagP99: number | undefined;
}

/** One cache store. */
export interface CacheRow {
  readonly name: string;
  /** (hit + stale) / (hit + stale + miss) over the interval and since start; undefined without lookups. */
  readonly hitRate: number | undefined;
  readonly hitRateTotal: number | undefined;
  /** Lookups per second (bypassed ones excluded, as in the hit rates). */
  readonly lookupRate: number | undefined;
  readonly entries: number | undefined;
}

/** Everything one frame shows. */
export interface TopView {
  readonly status: InstanceStatus;
  /** Seconds between the two samples (undefined for the first frame). */
  readonly interval: number | undefined;
  /** Requests answered per second over every pool. */
  readonly requestRate: number | undefined;
  readonly pools: readonly PoolRow[];
  readonly processes: readonly ProcessRow[];
  readonly caches: readonly CacheRow[];
  readonly lastReload: ReloadOutcome | undefined;
}

const REQUESTS = 'actorrt_http_requests_total';
const DURATION = 'http_server_request_duration_seconds';

/** `prev` is the earlier sample (undefined for the first frame), `cur` the one just taken. */
export function computeView(prev: Sample | undefined, cur: Sample): TopView {
  const seconds = prev === undefined ? undefined : (cur.at - prev.at) / 1000;
  const interval = seconds !== undefined && seconds > 0 ? seconds : undefined;
  const before = interval === undefined ? undefined : prev;
  const rate = (n: number | undefined): number | undefined => (n === undefined || interval === undefined ? undefined : n / interval);
  const requests = increases(before, cur, REQUESTS, 'zero');
  return {
    status: cur.status,
    interval,
    requestRate: rate(sumIncreases(requests)),
    pools: poolRows(before, cur, requests, rate),
    processes: processRows(before, cur, interval),
    caches: cacheRows(before, cur, rate),
    lastReload: cur.status.lastReload,
  };
}

function poolRows(before: Sample | undefined, cur: Sample, requests: readonly Increase[], rate: (n: number | undefined) => number | undefined): PoolRow[] {
  const { status } = cur;
  const durations = increases(before, cur, DURATION, 'zero').filter((d) => d.sample.metricName === `${DURATION}_bucket`);
  const sum = (name: string, pool: string): number | undefined => total(cur.families.get(name), (l) => l['pool'] === pool);
  const serving = status.workers.filter((w) => w.state !== 'retiring');
  const traffic = (name: string): Pick<PoolRow, 'requestRate' | 'errorRate' | 'p50' | 'p99'> => {
    const mine = requests.filter((r) => r.sample.labels['pool'] === name);
    const buckets = bucketsOf(durations.filter((d) => d.sample.labels['pool'] === name));
    return {
      requestRate: rate(sumIncreases(mine)),
      errorRate: rate(sumIncreases(mine.filter((r) => isServerError(r.sample.labels['status'])))),
      p50: before === undefined ? undefined : histogramQuantile(0.5, buckets),
      p99: before === undefined ? undefined : histogramQuantile(0.99, buckets),
    };
  };
  const rows: PoolRow[] = status.pools.map((p): PoolRow => {
    const running = p.kind === 'isolated' ? sum('actorrt_pool_processes_running', p.name) : serving.filter((w) => w.up).length;
    const configured = p.kind === 'isolated' ? sum('actorrt_pool_processes', p.name) : serving.length;
    return {
      name: p.name, kind: p.kind, state: p.state,
      size: sum('actorrt_pool_size', p.name) ?? p.size,
      processes: running === undefined || configured === undefined ? undefined : { running, configured },
      ...traffic(p.name),
      inFlight: sum('actorrt_pool_requests_in_flight', p.name),
      queue: sum('actorrt_pool_mailbox_messages', p.name),
      restarts: sum('actorrt_pool_restarts_total', p.name),
      down: p.down,
      ...(p.autoscale === undefined ? {} : { autoscale: p.autoscale }),
    };
  });
  // Requests no pool served: proxy routes (labelled with their upstream) and the front actor's own answers (health, 404s).
  const known = new Set(status.pools.map((p) => p.name));
  const others = [...new Set((cur.families.get(REQUESTS)?.values ?? []).map((v) => v.labels['pool'] ?? ''))].filter((n) => !known.has(n)).sort();
  for (const name of others) {
    rows.push({
      name: name === '' ? '(front)' : name, kind: name === '' ? 'front' : 'proxy', state: undefined, size: undefined, processes: undefined,
      ...traffic(name), inFlight: undefined, queue: undefined, restarts: undefined, down: undefined,
    });
  }
  return rows;
}

function processRows(before: Sample | undefined, cur: Sample, interval: number | undefined): ProcessRow[] {
  const up = cur.families.get('actorrt_process_up')?.values ?? [];
  const cpu = byProcess(increases(before, cur, 'actorrt_process_cpu_seconds_total', 'unknown'));
  const gauge = (name: string): ReadonlyMap<string, number> => new Map((cur.families.get(name)?.values ?? []).map((v) => [processKey(v.labels), v.value]));
  const rss = gauge('actorrt_process_resident_memory_bytes');
  const lag = gauge('actorrt_process_event_loop_lag_p99_seconds');
  return up.map((v): ProcessRow => {
    const key = processKey(v.labels);
    const used = cpu.get(key);
    const role = v.labels['role'];
    return {
      role: role === 'primary' || role === 'pool' ? role : 'front',
      pool: v.labels['pool'] ?? '',
      index: Number(v.labels['index'] ?? 0),
      pid: Number(v.labels['pid'] ?? 0),
      up: v.value === 1,
      cpu: used === undefined || interval === undefined ? undefined : used / interval,
      rss: rss.get(key),
      lagP99: lag.get(key),
    };
  });
}

function cacheRows(before: Sample | undefined, cur: Sample, rate: (n: number | undefined) => number | undefined): CacheRow[] {
  const lookups = increases(before, cur, 'actorrt_cache_lookups_total', 'zero');
  const entries = cur.families.get('actorrt_cache_entries');
  return cur.status.caches.map((c): CacheRow => {
    const mine = lookups.filter((l) => l.sample.labels['store'] === c.name);
    const count = (results: readonly string[], pick: (l: Increase) => number | undefined): number | undefined =>
      sumOf(mine.filter((l) => results.includes(l.sample.labels['result'] ?? '')).map(pick));
    const hits = (pick: (l: Increase) => number | undefined): number | undefined => count(['hit', 'stale'], pick);
    const looked = (pick: (l: Increase) => number | undefined): number | undefined => count(['hit', 'stale', 'miss'], pick);
    const now = (l: Increase): number => l.sample.value;
    const delta = (l: Increase): number | undefined => l.increase;
    return {
      name: c.name,
      hitRate: ratio(hits(delta), looked(delta)),
      hitRateTotal: ratio(hits(now), looked(now)),
      lookupRate: rate(looked(delta)),
      entries: total(entries, (l) => l['store'] === c.name),
    };
  });
}

/** A series of the later sample and how much it grew since the earlier one (undefined when that is unknown). */
interface Increase {
  readonly sample: MetricSample;
  readonly increase: number | undefined;
}

/**
 * Every series of family `name` in `cur` with its increase since `before`. A series missing from
 * `before` grew from 0 (`zero`: the instance's series are born at their first count) or by an
 * unknown amount (`unknown`: a process new since then had used CPU before we saw it).
 */
function increases(before: Sample | undefined, cur: Sample, name: string, absent: 'zero' | 'unknown'): Increase[] {
  const earlier = new Map((before?.families.get(name)?.values ?? []).map((v) => [seriesKey(v), v.value]));
  return (cur.families.get(name)?.values ?? []).map((sample): Increase => {
    if (before === undefined) return { sample, increase: undefined };
    const was = earlier.get(seriesKey(sample)) ?? (absent === 'zero' ? 0 : undefined);
    return { sample, increase: was === undefined ? undefined : counterIncrease(was, sample.value) };
  });
}

/** Prometheus' rule for a counter between two samples: a value lower than before is a reset, so the whole value is the increase. */
export function counterIncrease(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/** A bucket of a cumulative histogram: observations `<= le` (seconds; Infinity for +Inf). */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/**
 * The q-quantile (0..1) of a histogram, the way Prometheus' histogram_quantile() estimates it
 * (promql/quantile.go bucketQuantile): find the bucket holding the rank q x count and interpolate
 * linearly within it, the lowest bucket starting at 0; a rank in the +Inf bucket answers the
 * highest finite bound. Undefined without observations (Prometheus: NaN) or without a +Inf bucket.
 * Counts that decrease along `le` (buckets summed from series read at different moments) are
 * raised to stay monotonic first, as Prometheus does.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const last = sorted[sorted.length - 1];
  if (last === undefined || last.le !== Infinity || sorted.length < 2) return undefined;
  let max = 0;
  const counts = sorted.map((b) => (max = Math.max(max, b.count)));
  const observations = counts[counts.length - 1] ?? 0;
  if (observations === 0) return undefined;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  let rank = q * observations;
  const b = counts.findIndex((c) => c >= rank);
  if (b === sorted.length - 1) return sorted[sorted.length - 2]?.le;
  const end = sorted[b]?.le ?? 0;
  if (b === 0 && end <= 0) return end;
  let start = 0;
  let count = counts[b] ?? 0;
  if (b > 0) {
    start = sorted[b - 1]?.le ?? 0;
    count -= counts[b - 1] ?? 0;
    rank -= counts[b - 1] ?? 0;
  }
  return count === 0 ? start : start + (end - start) * (rank / count);
}

/** Bucket increases of several `_bucket` series (label sets) summed by `le`. */
function bucketsOf(series: readonly Increase[]): Bucket[] {
  const byLe = new Map<number, number>();
  for (const s of series) {
    const raw = s.sample.labels['le'];
    const le = raw === '+Inf' ? Infinity : Number(raw);
    if (raw === undefined || Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + (s.increase ?? 0));
  }
  return [...byLe].map(([le, count]) => ({ le, count }));
}

function byProcess(series: readonly Increase[]): ReadonlyMap<string, number | undefined> {
  return new Map(series.map((s) => [processKey(s.sample.labels), s.increase]));
}

function processKey(labels: Readonly<Record<string, string>>): string {
  return `${labels['role'] ?? ''}/${labels['pool'] ?? ''}/${labels['index'] ?? ''}/${labels['pid'] ?? ''}`;
}

/** One series' identity: its name (a histogram's part) and its labels, in a fixed order. */
function seriesKey(v: MetricSample): string {
  return `${v.metricName ?? ''}{${Object.keys(v.labels).sort().map((k) => `${k}=${JSON.stringify(v.labels[k])}`).join(',')}}`;
}

function isServerError(status: string | undefined): boolean {
  const n = Number(status);
  return n >= 500 && n <= 599;
}

function sumIncreases(series: readonly Increase[]): number | undefined {
  return sumOf(series.map((s) => s.increase));
}

/** The sum, undefined when any part is unknown; 0 for none. */
function sumOf(values: readonly (number | undefined)[]): number | undefined {
  let n = 0;
  for (const v of values) {
    if (v === undefined) return undefined;
    n += v;
  }
  return n;
}

/** Sum of a family's values whose labels pass `pick` (undefined when there is no such value). */
function total(family: FamilySample | undefined, pick: (labels: Readonly<Record<string, string>>) => boolean): number | undefined {
  const values = (family?.values ?? []).filter((v) => pick(v.labels));
  return values.length === 0 ? undefined : values.reduce((n, v) => n + v.value, 0);
}

function ratio(part: number | undefined, whole: number | undefined): number | undefined {
  return part === undefined || whole === undefined || whole === 0 ? undefined : part / whole;
}
