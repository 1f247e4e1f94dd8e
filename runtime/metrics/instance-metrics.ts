import { whenUsed } from '../when-used.js';
import type { MetricObjectWithValues, MetricValue, Registry, RegistryContentType } from 'prom-client';
import { DURATION_BUCKETS, FAMILIES, FAMILY_BY_NAME, PROCESS_LABELS, type MetricFamily } from '../protocol/metric-families.js';
import type { MetricsSnapshot } from '../protocol/shapes.js';

/**
 * prom-client (and the @opentelemetry/api it requires), loaded at the first scrape rather than at
 * the primary's start, where it cost ~30 ms of CPU before any worker was forked (measured,
 * docs/benchmarks.md cold-start). Both are CommonJS: required in place, the registry stays synchronous.
 */
const prom = whenUsed<Pick<typeof import('prom-client'), 'AggregatorRegistry' | 'openMetricsContentType'>>('prom-client');

/** Who a child process is, as its per-process series are labelled. */
export interface ProcessIdentity {
  readonly role: 'front' | 'pool' | 'primary';
  /** The isolated pool it runs ('' for a front worker). */
  readonly pool: string;
  readonly index: number;
  readonly pid: number;
}

/** One process's part of a scrape: what it counted (now, or last time when `up` is false). */
export interface ProcessPart {
  readonly identity: ProcessIdentity;
  readonly up: boolean;
  readonly snapshot: MetricsSnapshot | undefined;
}

/** A series the primary knows itself: labels in the catalog's order. */
export type PrimarySeries = readonly [labels: readonly string[], value: number];

/** prom-client's JSON form of one metric family (what `registry.getMetricsAsJSON()` gives and `AggregatorRegistry.aggregate` takes). */
type PromFamily = Omit<MetricObjectWithValues<MetricValue<string>>, 'collect' | 'type'> & { type: MetricFamily['type'] };
type PromValue = MetricValue<string> & { metricName?: string };

/** One series summed over processes: its label values (family labels, then process labels for per-process families). */
interface Summed { readonly labels: readonly string[]; value: number; readonly buckets?: number[] }

/**
 * Series of every family, combined by label values as they are added (summed, or the minimum for
 * `aggregate: 'min'` families). Done here, on plain maps keyed by the joined label values, rather
 * than by prom-client's AggregatorRegistry over every process's series: that hashes every label
 * object of every process, and measured 40 ms for 16 processes with 10 routes (200 ms with 50),
 * the primary's loop blocked all along (prom-client #543). Summed first, the same scrape costs
 * about 1-3 ms, and prom-client renders what is left.
 */
class Sums {
  private readonly byFamily = new Map<string, Map<string, Summed>>();

  add(family: MetricFamily, labels: readonly string[], value: number, buckets?: readonly number[]): void {
    let series = this.byFamily.get(family.name);
    if (series === undefined) {
      series = new Map();
      this.byFamily.set(family.name, series);
    }
    const key = labels.join('\n');
    const sum = series.get(key);
    if (sum === undefined) {
      series.set(key, { labels, value, ...(buckets === undefined ? {} : { buckets: [...buckets] }) });
      return;
    }
    sum.value = family.aggregate === 'min' ? Math.min(sum.value, value) : sum.value + value;
    if (buckets !== undefined && sum.buckets !== undefined) {
      for (let i = 0; i < buckets.length; i++) sum.buckets[i] = (sum.buckets[i] ?? 0) + (buckets[i] ?? 0);
    }
  }

  /** Every series of `snapshot`; per-process families get `processLabels` after their own (skipped without). */
  addSnapshot(snapshot: MetricsSnapshot, processLabels?: readonly string[]): void {
    for (const [name, series] of Object.entries(snapshot)) {
      const family = FAMILY_BY_NAME.get(name);
      if (family === undefined) continue;
      if (family.perProcess === true && processLabels === undefined) continue;
      for (const s of series) this.add(family, family.perProcess === true ? [...s.labels, ...(processLabels ?? [])] : s.labels, s.value, s.buckets);
    }
  }

  /** Counters and histograms only (what must outlive a process), into `into`. */
  addCountersTo(into: Sums): void {
    for (const [name, series] of this.byFamily) {
      const family = FAMILY_BY_NAME.get(name);
      if (family === undefined || family.type === 'gauge' || family.perProcess === true) continue;
      for (const s of series.values()) into.add(family, s.labels, s.value, s.buckets);
    }
  }

  series(name: string): Iterable<Summed> {
    return this.byFamily.get(name)?.values() ?? [];
  }
}

/**
 * The instance's counters across the lives of its processes. A process that exits takes its
 * counts with it; summed as they are, the instance's counters would drop, which Prometheus reads
 * as a counter reset and `rate()` turns into a spike (prom-client #418). So each process's last
 * counts (from its last scrape, or the final counts it sends as it drains) are kept by the
 * process's name, and added to `retired` when it exits or comes back under a new pid: every
 * counter and histogram of the instance then only grows. Per-process families are not kept:
 * a process that is gone has no CPU, memory or event loop any more.
 */
export class InstanceMetrics {
  private readonly last = new Map<string, { readonly pid: number; readonly snapshot: MetricsSnapshot }>();
  private readonly retired = new Sums();

  /** What process `name` (pid `pid`) counted, from a scrape or its final message. */
  record(name: string, pid: number, snapshot: MetricsSnapshot): void {
    const before = this.last.get(name);
    if (before !== undefined && before.pid !== pid) this.retire(before.snapshot);
    this.last.set(name, { pid, snapshot });
  }

  /** The last counts of process `name`, when it had sent any under `pid`. */
  lastOf(name: string, pid: number): MetricsSnapshot | undefined {
    const known = this.last.get(name);
    return known?.pid === pid ? known.snapshot : undefined;
  }

  /** Process `name` exited: its counts so far become part of the instance's totals. */
  exited(name: string): void {
    const before = this.last.get(name);
    if (before === undefined) return;
    this.last.delete(name);
    this.retire(before.snapshot);
  }

  private retire(snapshot: MetricsSnapshot): void {
    const one = new Sums();
    one.addSnapshot(snapshot);
    one.addCountersTo(this.retired);
  }

  /**
   * The whole instance as a prom-client registry: each process's counts (per-process families
   * labelled with role, pool, index and pid, plus `actorrt_process_up`), the retired totals and
   * the primary's own series, summed per series. Every family of the catalog is listed, with no
   * series when nothing was counted yet: a dashboard or an alert rule finds each name from the
   * first scrape on.
   */
  registry(parts: readonly ProcessPart[], own: ReadonlyMap<string, readonly PrimarySeries[]>, openMetrics = false): Registry<RegistryContentType> {
    const sums = new Sums();
    const up = FAMILY_BY_NAME.get('actorrt_process_up') as MetricFamily;
    for (const p of parts) {
      const labels = processLabelValues(p.identity);
      if (p.snapshot !== undefined) sums.addSnapshot(p.snapshot, labels);
      sums.add(up, labels, p.up ? 1 : 0);
    }
    this.retired.addCountersTo(sums);
    for (const [name, series] of own) {
      const family = FAMILY_BY_NAME.get(name);
      if (family !== undefined) for (const [labels, value] of series) sums.add(family, labels, value);
    }
    const families = FAMILIES.map((f): PromFamily => {
      const names = f.perProcess === true ? [...f.labels, ...PROCESS_LABELS] : f.labels;
      const values: PromValue[] = [];
      for (const s of sums.series(f.name)) {
        const labels = labelsOf(names, s.labels);
        if (f.type === 'histogram') values.push(...histogramValues(f.name, labels, s));
        else values.push({ value: s.value, labels });
      }
      // OpenMetrics names a counter family without `_total` and adds it to each sample; prom-client
      // does so only for its own Counter objects, not for aggregated ones (it would print `_total_total`).
      const name = openMetrics && f.type === 'counter' ? f.name.replace(/_total$/, '') : f.name;
      return { name, help: f.help, type: f.type, aggregator: 'sum', values };
    });
    // Summed already: prom-client's aggregate over this one source only builds the registry.
    const { AggregatorRegistry, openMetricsContentType } = prom();
    const registry = AggregatorRegistry.aggregate<RegistryContentType>([families]);
    if (openMetrics) registry.setContentType(openMetricsContentType);
    return registry;
  }
}

function processLabelValues(id: ProcessIdentity): string[] {
  return [id.role, id.pool, String(id.index), String(id.pid)];
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  names.forEach((n, i) => { out[n] = values[i] ?? ''; });
  return out;
}

/** A histogram series as Prometheus exposes it: cumulative `_bucket` counts by `le`, `_sum`, `_count`. */
function histogramValues(name: string, labels: Record<string, string>, s: { readonly value: number; readonly buckets?: readonly number[] }): PromValue[] {
  const buckets = s.buckets ?? [];
  const out: PromValue[] = [];
  let cumulative = 0;
  buckets.forEach((n, i) => {
    cumulative += n;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: i < DURATION_BUCKETS.length ? String(DURATION_BUCKETS[i]) : '+Inf' }, value: cumulative });
  });
  out.push({ metricName: `${name}_sum`, labels, value: s.value });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}
