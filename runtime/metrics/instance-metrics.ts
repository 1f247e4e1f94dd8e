import { AggregatorRegistry, openMetricsContentType, type MetricObjectWithValues, type MetricValue, type Registry, type RegistryContentType } from 'prom-client';
import { DURATION_BUCKETS, FAMILIES, FAMILY_BY_NAME, PROCESS_LABELS, type MetricFamily } from '../protocol/metric-families.js';
import type { MetricSeries, MetricsSnapshot } from '../protocol/shapes.js';

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
  private readonly retired = new Map<string, Map<string, { readonly labels: readonly string[]; value: number; buckets?: number[] }>>();

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
    for (const [name, series] of Object.entries(snapshot)) {
      const family = FAMILY_BY_NAME.get(name);
      if (family === undefined || family.type === 'gauge' || family.perProcess === true) continue;
      let kept = this.retired.get(name);
      if (kept === undefined) {
        kept = new Map();
        this.retired.set(name, kept);
      }
      for (const s of series) {
        const key = s.labels.join('\n');
        const sum = kept.get(key);
        if (sum === undefined) {
          kept.set(key, { labels: s.labels, value: s.value, ...(s.buckets === undefined ? {} : { buckets: [...s.buckets] }) });
          continue;
        }
        sum.value += s.value;
        if (s.buckets !== undefined && sum.buckets !== undefined) s.buckets.forEach((n, i) => { (sum.buckets as number[])[i] = (sum.buckets?.[i] ?? 0) + n; });
      }
    }
  }

  /**
   * The whole instance as prom-client's registry: each process's counts (per-process families
   * labelled with role, pool, index and pid, plus `actorrt_process_up`), the retired totals and
   * the primary's own series, combined per series by prom-client's cluster aggregator.
   */
  registry(parts: readonly ProcessPart[], own: ReadonlyMap<string, readonly PrimarySeries[]>, openMetrics = false): Registry<RegistryContentType> {
    const sources: PromFamily[][] = parts.map((p) => toProm(p.snapshot ?? {}, p.identity));
    sources.push(toProm(Object.fromEntries([...this.retired].map(([name, kept]) => [name, [...kept.values()]]))));
    sources.push([...own].flatMap(([name, series]) => {
      const family = FAMILY_BY_NAME.get(name);
      return family === undefined ? [] : [promFamily(family, series.map(([labels, value]) => ({ value, labels: labelsOf(family.labels, labels) })))];
    }));
    const up = FAMILY_BY_NAME.get('actorrt_process_up') as MetricFamily;
    sources.push([promFamily(up, parts.map((p) => ({ value: p.up ? 1 : 0, labels: processLabels(p.identity) })))]);
    // Every family of the catalog is shown, with no series when nothing was counted yet: a
    // dashboard or an alert rule finds each name from the first scrape on.
    sources.push(FAMILIES.map((f) => promFamily(f, [])));
    // OpenMetrics names a counter family without `_total` and adds it to each sample; prom-client
    // does so only for its own Counter objects, not for aggregated ones (it would print `_total_total`).
    if (openMetrics) for (const source of sources) for (const f of source) if (f.type === 'counter') f.name = f.name.replace(/_total$/, '');
    const registry = AggregatorRegistry.aggregate<RegistryContentType>(sources);
    if (openMetrics) registry.setContentType(openMetricsContentType);
    return registry;
  }
}

function processLabels(id: ProcessIdentity): Record<string, string> {
  const values = [id.role, id.pool, String(id.index), String(id.pid)];
  return labelsOf(PROCESS_LABELS, values);
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  names.forEach((n, i) => { out[n] = values[i] ?? ''; });
  return out;
}

function promFamily(family: MetricFamily, values: PromValue[]): PromFamily {
  return { name: family.name, help: family.help, type: family.type, aggregator: family.aggregate ?? 'sum', values };
}

/** One process's snapshot (or the retired totals) in prom-client's JSON form; per-process families get the process's labels. */
function toProm(snapshot: MetricsSnapshot, identity?: ProcessIdentity): PromFamily[] {
  const out: PromFamily[] = [];
  for (const [name, series] of Object.entries(snapshot)) {
    const family = FAMILY_BY_NAME.get(name);
    if (family === undefined) continue;
    if (family.perProcess === true && identity === undefined) continue;
    const extra = family.perProcess === true && identity !== undefined ? processLabels(identity) : undefined;
    const values: PromValue[] = [];
    for (const s of series) {
      const labels = labelsOf(family.labels, s.labels);
      if (extra !== undefined) Object.assign(labels, extra);
      if (family.type === 'histogram') values.push(...histogramValues(family.name, labels, s));
      else values.push({ value: s.value, labels });
    }
    out.push(promFamily(family, values));
  }
  return out;
}

/** A histogram series as Prometheus exposes it: cumulative `_bucket` counts by `le`, `_sum`, `_count`. */
function histogramValues(name: string, labels: Record<string, string>, s: MetricSeries): PromValue[] {
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
