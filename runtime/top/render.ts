import cliTruncate from 'cli-truncate';
import type { InstanceStatus } from '../primary/status.js';
import type { CacheRow, PoolRow, ProcessRow, TopView } from './rates.js';

/** How the process table is ordered (keys c, m, p, l). */
export type ProcessSort = 'cpu' | 'memory' | 'pid' | 'lag';
/** How the pool table is ordered (keys n, r, e): `name` is the topology's order. */
export type PoolSort = 'name' | 'rate' | 'errors';

export interface RenderOptions {
  /** Columns: each line is cut to this display width (wide characters counted as two); Infinity for no cut. */
  readonly width: number;
  /** Lines: the process table (then the tail) is cut to fit; Infinity for no cut. */
  readonly height: number;
  readonly processSort: ProcessSort;
  readonly poolSort: PoolSort;
  /** Show the keys line (interactive terminals only). */
  readonly keys: boolean;
  /** A line shown under the header (a primary that stopped answering). */
  readonly notice?: string;
}

/** One line of a frame; `kind` lets a terminal style it (table headers, titles), plain text ignores it. */
export interface Line {
  readonly text: string;
  readonly kind: 'title' | 'header' | 'row' | 'note';
}

const SORT_LABEL: Readonly<Record<ProcessSort | PoolSort, string>> = { cpu: 'CPU', memory: 'memory', pid: 'pid', lag: 'event-loop lag', name: 'topology order', rate: 'req/s', errors: 'errors/s' };

/** The rows of a view as the lines of one frame, at most `height` lines, none wider than `width`. */
export function render(view: TopView, options: RenderOptions): Line[] {
  const head = [...header(view, options.notice), blank()];
  const pools = [title(`pools by ${SORT_LABEL[options.poolSort]}   (p50 / p99: last interval, interpolated within buckets as Prometheus' histogram_quantile)`),
    ...poolTable(sortPools(view.pools, options.poolSort)), ...poolNotes(view.pools), blank()];
  const processTitle = title(`processes (${view.processes.length}) by ${SORT_LABEL[options.processSort]}`);
  const [processHeader, ...processRows] = processTable(sortProcesses(view.processes, options.processSort));
  const tail = [
    ...(view.caches.length === 0 ? [] : [blank(), ...cacheTable(view.caches)]),
    ...resourceNotes(view.status),
    ...(view.lastReload === undefined ? [] : [blank(), note(lastReload(view))]),
    ...(options.keys ? [blank(), note('q quit   sort processes: c CPU  m memory  p pid  l lag   sort pools: r req/s  e errors/s  n topology order')] : []),
  ];
  // The process table is the one that grows with the instance: it gives up rows first, saying how many.
  const room = options.height - head.length - pools.length - 2 - tail.length;
  const shown = processRows.length <= room ? processRows : processRows.slice(0, Math.max(room - 1, 0));
  const more = shown.length < processRows.length ? [note(`... ${processRows.length - shown.length} more (a taller terminal shows them)`)] : [];
  const lines = [...head, ...pools, processTitle, ...(processHeader === undefined ? [] : [processHeader]), ...shown, ...more, ...tail];
  return lines.slice(0, Math.max(options.height, 0)).map((l) => ({ ...l, text: fit(l.text, options.width) }));
}

/** A frame as plain text, one line each. */
export function plainText(lines: readonly Line[]): string {
  return lines.map((l) => l.text).join('\n');
}

function header(view: TopView, notice: string | undefined): Line[] {
  const s = view.status;
  const serving = s.workers.filter((w) => w.state !== 'retiring');
  const metrics = s.metrics === undefined ? 'off (admin.metrics: false)' : 'url' in s.metrics ? s.metrics.url : `not served (${s.metrics.error})`;
  const every = view.interval === undefined ? 'first sample; rates from the next one' : `rates over ${view.interval.toFixed(1)} s`;
  return [
    title(`actorrt ${s.url}   pid ${s.pid}   up ${duration(s.uptime)}   front workers ${serving.filter((w) => w.up).length}/${serving.length} (${s.workerRestarts} restarts)   ${rate(view.requestRate)} req/s`),
    note(`${s.file}   metrics ${metrics}   ${every}`),
    ...(notice === undefined ? [] : [note(notice)]),
  ];
}

interface Column<T> {
  readonly title: string;
  readonly cell: (row: T) => string;
  /** Numbers are right-aligned. */
  readonly left?: boolean;
}

/** A table: a header line, then one line per row, each column as wide as its widest cell. */
function table<T>(rows: readonly T[], columns: readonly Column<T>[]): Line[] {
  const cells = rows.map((r) => columns.map((c) => c.cell(r)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => (row[i] ?? '').length)));
  const line = (values: readonly string[]): string => values
    .map((v, i) => (columns[i]?.left === true ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [{ text: line(columns.map((c) => c.title)), kind: 'header' }, ...cells.map((row): Line => ({ text: line(row), kind: 'row' }))];
}

function poolTable(rows: readonly PoolRow[]): Line[] {
  return table(rows, [
    { title: 'POOL', cell: (p) => p.name, left: true },
    { title: 'KIND', cell: (p) => p.kind, left: true },
    { title: 'STATE', cell: (p) => p.state ?? '', left: true },
    { title: 'SIZE', cell: (p) => num(p.size) },
    { title: 'PROCS', cell: (p) => (p.processes === undefined ? '-' : `${p.processes.running}/${p.processes.configured}`) },
    { title: 'REQ/S', cell: (p) => rate(p.requestRate) },
    { title: 'ERR/S', cell: (p) => rate(p.errorRate) },
    { title: 'P50', cell: (p) => seconds(p.p50) },
    { title: 'P99', cell: (p) => seconds(p.p99) },
    { title: 'IN FLIGHT', cell: (p) => num(p.inFlight) },
    { title: 'QUEUE', cell: (p) => num(p.queue) },
    { title: 'RESTARTS', cell: (p) => num(p.restarts) },
  ]);
}

function processTable(rows: readonly ProcessRow[]): Line[] {
  return table(rows, [
    { title: 'ROLE', cell: (p) => p.role, left: true },
    { title: 'POOL', cell: (p) => p.pool, left: true },
    { title: '#', cell: (p) => String(p.index) },
    { title: 'PID', cell: (p) => String(p.pid) },
    { title: 'CPU%', cell: (p) => (p.cpu === undefined ? '-' : (p.cpu * 100).toFixed(1)) },
    { title: 'RSS', cell: (p) => bytes(p.rss) },
    { title: 'LAG P99', cell: (p) => seconds(p.lagP99) },
    { title: 'STATE', cell: (p) => (p.up ? 'up' : 'not answering'), left: true },
  ]);
}

function cacheTable(rows: readonly CacheRow[]): Line[] {
  return table(rows, [
    { title: 'CACHE', cell: (c) => c.name, left: true },
    { title: 'HIT% (INTERVAL)', cell: (c) => percent(c.hitRate) },
    { title: 'HIT% (SINCE START)', cell: (c) => percent(c.hitRateTotal) },
    { title: 'LOOKUPS/S', cell: (c) => rate(c.lookupRate) },
    { title: 'ENTRIES', cell: (c) => num(c.entries) },
  ]);
}

function poolNotes(rows: readonly PoolRow[]): Line[] {
  return rows.flatMap((p) => [
    ...(p.down === undefined ? [] : [note(`  ${p.name} is down: ${p.down}`)]),
    ...(p.autoscale === undefined ? [] : [note(`  ${p.name} autoscale ${p.autoscale.unit} ${p.autoscale.current} in ${p.autoscale.min}..${p.autoscale.max}: ${p.autoscale.now}`)]),
  ]);
}

function resourceNotes(s: InstanceStatus): Line[] {
  return s.resources.flatMap((r) => {
    if (r.state === 'unavailable') return [note(`resource ${r.name} unavailable in ${r.unavailableIn.join(', ')}: ${r.error ?? 'unknown error'}`)];
    if (r.state === 'degraded') return [note(`resource ${r.name} degraded: origins taken out ${(r.originsOut ?? []).join(', ')}`)];
    return [];
  });
}

function lastReload(view: TopView): string {
  const r = view.lastReload;
  if (r === undefined) return '';
  const what = r.ok
    ? `${r.dryRun ? 'dry run' : r.applied ? 'applied' : 'nothing to change'}${r.plan.length === 0 ? '' : `: ${r.plan.join('; ')}`}`
    : `refused: ${r.error?.code ?? ''} ${r.error?.message ?? ''}`;
  return `last reload ${r.at} (${r.trigger}) ${what}`;
}

/** Descending by the chosen figure (pid: ascending); unknown figures last; ties keep the instance's order. */
export function sortProcesses(rows: readonly ProcessRow[], by: ProcessSort): ProcessRow[] {
  const key: (p: ProcessRow) => number | undefined = by === 'cpu' ? (p) => p.cpu : by === 'memory' ? (p) => p.rss : by === 'lag' ? (p) => p.lagP99 : (p) => -p.pid;
  return sortDescending(rows, key);
}

/** `name` keeps the topology's order (then proxies and the front actor); the others sort descending. */
export function sortPools(rows: readonly PoolRow[], by: PoolSort): PoolRow[] {
  if (by === 'name') return [...rows];
  return sortDescending(rows, by === 'rate' ? (p) => p.requestRate : (p) => p.errorRate);
}

function sortDescending<T>(rows: readonly T[], key: (row: T) => number | undefined): T[] {
  return rows.map((row, i) => ({ row, i, k: key(row) }))
    .sort((a, b) => (a.k === b.k ? a.i - b.i : a.k === undefined ? 1 : b.k === undefined ? -1 : b.k - a.k))
    .map((x) => x.row);
}

function fit(text: string, width: number): string {
  return Number.isFinite(width) ? cliTruncate(text, Math.max(width, 1)) : text;
}

const title = (text: string): Line => ({ text, kind: 'title' });
const note = (text: string): Line => ({ text, kind: 'note' });
const blank = (): Line => ({ text: '', kind: 'note' });

/** Per-second rates: `0`, `3.5`, `512`, `12.3k`; `-` when unknown. */
export function rate(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n === 0) return '0';
  if (n < 100) return n.toFixed(1);
  if (n < 10_000) return String(Math.round(n));
  return `${(n / 1000).toFixed(1)}k`;
}

/** Durations in seconds as `0.8ms`, `42ms`, `1.25s`; `-` when unknown. */
export function seconds(s: number | undefined): string {
  if (s === undefined) return '-';
  const ms = s * 1000;
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${s.toFixed(2)}s`;
}

/** Bytes in MiB (`48.2M`); `-` when unknown. */
function bytes(n: number | undefined): string {
  return n === undefined ? '-' : `${(n / 1048576).toFixed(1)}M`;
}

function percent(r: number | undefined): string {
  return r === undefined ? '-' : `${(r * 100).toFixed(1)}%`;
}

function num(n: number | undefined): string {
  return n === undefined ? '-' : String(n);
}

/** `45s`, `12m05s`, `3h02m`, `2d04h`. */
export function duration(totalSeconds: number): string {
  const s = Math.max(Math.floor(totalSeconds), 0);
  if (s < 60) return `${s}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}
