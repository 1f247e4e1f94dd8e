import type { AutoscaleStatus } from '../autoscale/autoscaler.js';
import type { BusStatus } from '../bus/invalidation-bus.js';
import type { CacheStatus } from '../cache/stats.js';
import { ActorrtError } from '../errors.js';
import type { ResourceStatus } from '../primary/resource-health.js';
import { isInstanceStatus, type InstanceStatus, type PoolStatus, type ProcessStatus } from '../primary/status.js';
import { SUPERVISION_EVENTS } from '../supervision/counters.js';
import type { Command } from './command.js';
import { findInstance } from './instance.js';

export const status: Command = {
  usage: 'status [file] [--json]',
  summary: 'pools, processes, restarts and resource health of a running instance',
  help: `Asks the instance started from the topology file (default: actorrt.yml) for its state:
front workers, every pool (inline or isolated, up / starting / down) with its size, processes
(pid, state, in flight), mailbox depth and restarts (since start and within the supervision
window), the supervision totals since start (actor restarts / stops, escalations, process
restarts, give-ups), for a pool that was given up, why and its last error, every resource
(available, unavailable: in which processes, since when, why; degraded: upstream origins taken
out by the health check), the last reload (when, applied or refused, the plan or the error), and
once a stop has begun, whether the instance is still leaving its load balancers (and for how
long) or draining.
Exits 1 while a pool is down or a resource is unavailable.

Options:
  --pid-file F   the pid file the instance was started with
  --json         print the raw status object`,
  options: { 'pid-file': { type: 'string' }, json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'status takes at most one topology file');
    const answer = await findInstance(values, positionals[0]).ask('status');
    if (!isInstanceStatus(answer)) throw new ActorrtError('ACTORRT_E_INTERNAL', 'the instance answered status with something this actorrt does not understand');
    // Scripts and probes get the same verdict from either format.
    const code = answer.pools.some((p) => p.state === 'down') || answer.resources.some((r) => r.state === 'unavailable') ? 1 : 0;
    if (values['json'] === true) {
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return code;
    }
    process.stdout.write(`${describe(answer).join('\n')}\n`);
    return code;
  },
};

function describe(s: InstanceStatus): string[] {
  const serving = s.workers.filter((w) => w.state !== 'retiring');
  const up = serving.filter((w) => w.up).length;
  const leaving = s.workers.length - serving.length;
  return [
    `actorrt pid ${s.pid} on ${s.url}, up ${s.uptime}s`,
    ...(s.stopping === undefined ? [] : [s.stopping.phase === 'leaving'
      ? `stopping: leaving its load balancers (readiness 503, still serving), draining in ${(s.stopping.left / 1000).toFixed(1)}s`
      : 'stopping: draining (in-flight requests finish within http.shutdownTimeout)']),
    ...(s.metrics === undefined ? [] : ['url' in s.metrics ? `metrics: ${s.metrics.url}` : `metrics: none (${s.metrics.error})`]),
    `front workers: ${up}/${serving.length} up (pids ${serving.map((w) => w.pid ?? '-').join(', ')}${memory(serving)}), ${s.workerRestarts} restarts${leaving > 0 ? `, ${leaving} draining` : ''}`,
    'pools:',
    ...s.pools.map(describePool),
    ...(s.resources.length === 0 ? [] : ['resources:', ...s.resources.map(describeResource)]),
    ...(s.caches.length === 0 ? [] : ['caches:', ...s.caches.map(describeCache)]),
    ...(s.bus === undefined ? [] : [describeBus(s.bus)]),
    ...(s.lastReload === undefined ? [] : [
      `last reload: ${s.lastReload.at} (${s.lastReload.trigger}) ${s.lastReload.ok ? 'applied' : 'not applied'}`,
      ...(s.lastReload.ok ? s.lastReload.plan : s.lastReload.error?.issues ?? [`${s.lastReload.error?.code ?? ''}  ${s.lastReload.error?.message ?? ''}`]).map((l) => `  ${l}`),
    ]),
  ];
}

function describeBus(b: BusStatus): string {
  const state = b.connected ? 'connected' : `CUT OFF for ${Math.round((Date.now() - b.since) / 1000)}s (memory entries older than the staleness bound are misses)`;
  const rt = b.roundTrip === undefined ? '' : `, round trip p50 ${b.roundTrip.p50} ms p99 ${b.roundTrip.p99} ms`;
  return `bus: ${state} on ${b.channel} via ${b.redis}, ${b.peers} peer${b.peers === 1 ? '' : 's'}${rt}, sent ${b.sent} received ${b.received}, `
    + `${b.ackTimeouts} unacknowledged (timed out), ${b.flushes} memory flush${b.flushes === 1 ? '' : 'es'} (one per connection, the first included)${b.queued > 0 ? `, ${b.queued} queued` : ''}`;
}

function describePool(p: PoolStatus): string {
  const processes = p.processes ?? [];
  const serving = processes.filter((x) => x.state !== 'retiring');
  const draining = processes.length - serving.length;
  const pids = serving.length === 0 ? '-' : `${serving.map((x) => x.pid ?? '-').join(', ')}${memory(serving)}`;
  const where = p.kind === 'inline'
    ? `inline, ${p.size} actors per worker`
    : p.kind === 'threads'
    ? `threads, ${p.threadCount ?? 0} threads x ${p.size} actors per worker${p.actorsRunning === undefined ? '' : ` (${p.actorsRunning} actors running)`}`
    : `isolated, ${p.processCount ?? serving.length} processes x ${p.size} actors (pids ${pids}), ${p.restarts ?? 0} restarts${draining > 0 ? `, ${draining} draining` : ''}`;
  const depth = p.depth > 0 ? `, ${p.depth} in flight` : '';
  const why = p.down === undefined ? '' : `\n      down: ${p.down}`;
  const acted = SUPERVISION_EVENTS.filter((e) => p.supervision[e] > 0).map((e) => `${p.supervision[e]} ${e}`);
  const supervision = acted.length === 0 ? '' : `\n      supervision: ${acted.join(', ')}`;
  const scaling = p.autoscale === undefined ? '' : `\n      ${describeAutoscale(p.autoscale)}`;
  return `  ${p.name.padEnd(16)} ${p.state.padEnd(8)} ${where}${depth}${why}${supervision}${scaling}`;
}

/** `autoscale: size 12 in 1..64, inflight 0.84 per actor (target 1), 420 req/s; last 8 -> 12 at ... (why); now: ...` */
function describeAutoscale(a: AutoscaleStatus): string {
  const unit = a.unit === 'size' ? 'actors per worker' : a.unit === 'threads' ? 'threads per worker' : 'processes';
  const reading = a.value === undefined ? '' : `, ${a.signal} ${a.value} per actor (target ${a.target})${a.rate === undefined ? '' : `, ${a.rate} req/s`}`;
  const last = a.last === undefined ? '' : `\n        last change: ${a.last.from} -> ${a.last.to} at ${a.last.at} (${a.last.reason})`;
  const ceiling = a.ceiling === undefined ? '' : `, useful size measured: ${a.ceiling}`;
  return `autoscale: ${a.current} ${unit} in ${a.min}..${a.max}${reading}${ceiling}; ${a.changes.up} up, ${a.changes.down} down\n        now: ${a.now}${last}`;
}

/** `; rss 48, 51 MiB` for processes that reported their memory. */
function memory(processes: readonly ProcessStatus[]): string {
  const mib = processes.flatMap((x) => (x.rss === undefined ? [] : [Math.round(x.rss / 1048576)]));
  return mib.length === 0 ? '' : `; rss ${mib.join(', ')} MiB`;
}

function describeCache(c: CacheStatus): string {
  const rate = c.hitRate === undefined ? 'no lookups yet' : `hit rate ${(c.hitRate * 100).toFixed(1)}%`;
  const counts = `${c.hits} hits, ${c.stale} stale, ${c.misses} misses${c.bypass > 0 ? `, ${c.bypass} bypassed` : ''}`;
  const entries = c.entries === undefined ? '' : `, ${c.entries} entries`;
  const health = c.kind === 'redis' && !c.available ? `\n      unavailable now: requests go on as misses (${c.errors} failed operations)` : c.errors > 0 ? `, ${c.errors} failed operations` : '';
  return `  ${c.name.padEnd(16)} ${c.kind.padEnd(8)} ${rate} (${counts})${entries}${health}`;
}

function describeResource(r: ResourceStatus): string {
  const head = `  ${r.name.padEnd(16)} ${r.state.padEnd(11)} ${r.type} ${r.address}`;
  if (r.state === 'unavailable') return `${head}\n      unavailable in ${r.unavailableIn.join(', ')} since ${r.since ?? '?'}: ${r.error ?? 'unknown error'}`;
  if (r.state === 'degraded') return `${head}\n      origins taken out: ${(r.originsOut ?? []).join(', ')} (since ${r.since ?? '?'})`;
  return head;
}
