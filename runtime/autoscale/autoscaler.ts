import type { PoolConfig } from '../../config/types.js';
import type { Logger } from '../logger.js';
import type { Child } from '../primary/child.js';
import { FRONT, type Processes, type ProcessStats } from '../primary/processes.js';
import type { Reloader } from '../primary/reload.js';
import { applied, decide, initialState, type Decision, type Policy, type Sample, type ScalerState } from './decide.js';
import { memoryShort, readMemory, type MemoryReading } from './memory.js';
import { policyOf, unitOf, type Unit } from './policy.js';

/** An autoscaled pool as `actorrt status`, `top` and /metrics show it. */
export interface AutoscaleStatus {
  /** What the scaler changes: actors per front worker (`size`), threads per front worker, or processes. */
  readonly unit: Unit;
  readonly current: number;
  readonly min: number;
  readonly max: number;
  readonly signal: Policy['signal'];
  readonly target: number;
  /** The signal per actor over the latest up window; absent until the first samples at this size. */
  readonly value?: number;
  /** Requests the pool finished per second over the same window. */
  readonly rate?: number;
  /** Set by `actorrt scale`: the size it pinned; the scaler waits for the next reload. */
  readonly pinned?: number;
  /** What the scaler thinks now (a hold's reason, or the change it is making). */
  readonly now: string;
  /** The last change it made. */
  readonly last?: { readonly at: string; readonly from: number; readonly to: number; readonly reason: string };
  /** The useful size it measured (growing past it added no throughput), while that holds. */
  readonly ceiling?: number;
  /** Changes made since start, by direction. */
  readonly changes: { readonly up: number; readonly down: number };
}

interface Reading {
  readonly pid: number | undefined;
  readonly completed: number;
  readonly inflightSeconds: number;
  readonly busySeconds: number;
}

interface Tracked {
  readonly policy: Policy;
  /** The policy as JSON: a reload that changes it starts the pool's scaler afresh. */
  readonly key: string;
  readonly unit: Unit;
  state: ScalerState;
  samples: Sample[];
  readings: Map<Child, Reading>;
  sampledAt: number | undefined;
  sizeAtSample: number;
  decision: Decision | undefined;
  /** Set while a change is being applied (status says so: the topology shows the new size already). */
  changing: string | undefined;
  /** The last change failed: how often in a row, why, and when it may be tried again. */
  failing?: { count: number; retryAt: number; error: string; from: number; to: number } | undefined;
  /** The last process that did not answer a sample in time, while samples are incomplete. */
  unanswered?: string | undefined;
  /** When the last complete sample was taken. */
  completeAt?: number | undefined;
  last: AutoscaleStatus['last'];
  readonly changes: { up: number; down: number };
}

/** The longest wait between two tries of a change that failed. */
const MAX_RETRY_MS = 5 * 60_000;
/**
 * How long a sample waits for a process's counters: a pool process whose actor runs 1.5 s of
 * synchronous CPU work answers between two requests, past the 1 s status uses (hostile run).
 */
const STATS_WAIT_MS = 2500;

/** How often the scaler looks for pools due a sample (each pool is sampled at its own interval). */
const TICK_MS = 100;
/** How often it looks for autoscaled pools when the topology has none (a reload may add one). */
const IDLE_TICK_MS = 1000;

/**
 * The primary's autoscaler: samples every autoscaled pool's load at its interval (one `stats`
 * call to every process, answered from counters the pools keep: runtime/pool/pool-base.ts
 * `meter`), asks the pure decision (./decide.ts) for a size, and carries changes out through the
 * reload queue (`Reloader.autoscale`): never interleaved with a reload or a scale, new actors,
 * threads and processes serving before old ones drain. A pool `actorrt scale` pinned is sampled
 * but left alone until the next reload. One log line per change (`event: autoscale`).
 */
export class Autoscaler {
  private readonly pools = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;

  constructor(private readonly processes: Processes, private readonly reloader: Reloader, private readonly log: Logger, private readonly cpus: number,
    private readonly memory: () => MemoryReading = readMemory) {}

  start(): void {
    this.schedule();
  }

  /** No more samples nor changes (the instance is stopping); a change under way finishes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The pool's autoscaler as status shows it; undefined when the pool does not autoscale. */
  status(pool: PoolConfig): AutoscaleStatus | undefined {
    const policy = policyOf(pool, this.cpus);
    if (policy === undefined) return undefined;
    const unit = unitOf(pool);
    const t = this.pools.get(pool.name);
    const d = t?.key === JSON.stringify(policy) ? t.decision : undefined;
    const pinned = this.reloader.pinned.get(pool.name);
    const ceiling = t?.state.ceiling;
    return {
      unit, current: pool[unit] ?? policy.min, min: policy.min, max: policy.max, signal: policy.signal, target: policy.target,
      ...(d?.signal === undefined ? {} : { value: round(d.signal) }),
      ...(d?.rate === undefined ? {} : { rate: round(d.rate) }),
      ...(pinned === undefined ? {} : { pinned }),
      now: pinned !== undefined ? `pinned at ${pinned} by actorrt scale until the next reload` : t?.changing ?? this.trouble(t) ?? d?.reason ?? 'waiting for the first samples',
      ...(t?.last === undefined ? {} : { last: t.last }),
      ...(ceiling === undefined ? {} : { ceiling: ceiling.size }),
      changes: { up: t?.changes.up ?? 0, down: t?.changes.down ?? 0 },
    };
  }

  /** What keeps the scaler from acting, when something does: a change that keeps failing, samples that do not come. */
  private trouble(t: Tracked | undefined): string | undefined {
    if (t === undefined) return undefined;
    const now = Date.now();
    if (t.failing !== undefined) {
      return `changing ${t.failing.from} -> ${t.failing.to} failed ${t.failing.count} time${t.failing.count === 1 ? '' : 's'} in a row (${t.failing.error}); next try in ${Math.max(0, Math.round((t.failing.retryAt - now) / 1000))}s`;
    }
    const since = t.completeAt ?? t.state.since;
    if (t.unanswered !== undefined && now - since > 3 * t.policy.interval) {
      return `no complete sample for ${Math.round((now - since) / 1000)}s: ${t.unanswered} did not answer within ${STATS_WAIT_MS / 1000}s (an event loop busy that long)`;
    }
    return undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.tick().catch((err: unknown) => this.log.error({ err, code: 'ACTORRT_E_INTERNAL', event: 'autoscale-bug' }, 'autoscaler: a sample failed'))
        .finally(() => this.schedule());
    }, this.pools.size === 0 ? IDLE_TICK_MS : TICK_MS);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = Date.now();
      const due = this.track(now).filter(([, t]) => t.sampledAt === undefined || now - t.sampledAt >= t.policy.interval - TICK_MS / 2);
      if (due.length === 0) return;
      const loads = await this.processes.loads(STATS_WAIT_MS);
      const at = Date.now();
      const memory = this.memory();
      for (const [pool, t] of due) {
        if (this.stopped) return;
        this.sample(pool, t, loads, at, memory);
        await this.act(pool, t, at);
      }
    } finally {
      this.ticking = false;
    }
  }

  /** Bring the tracked pools in line with the topology in force; returns the autoscaled ones. */
  private track(now: number): Array<[PoolConfig, Tracked]> {
    const config = this.processes.config;
    const out: Array<[PoolConfig, Tracked]> = [];
    for (const name of this.pools.keys()) if (config.pools[name]?.autoscale === undefined) this.pools.delete(name);
    for (const pool of Object.values(config.pools)) {
      const policy = policyOf(pool, this.cpus);
      if (policy === undefined) continue;
      const unit = unitOf(pool);
      const size = pool[unit] ?? policy.min;
      const key = JSON.stringify(policy);
      let t = this.pools.get(pool.name);
      if (t === undefined || t.key !== key || t.unit !== unit) {
        // New bounds or signal: measured afresh. Another unit (the pool moved between inline,
        // threads and processes): its history counted something else, and is dropped.
        const kept = t !== undefined && t.unit === unit;
        t = { policy, key, unit, state: initialState(size, now), samples: [], readings: new Map(), sampledAt: undefined, sizeAtSample: size, decision: undefined, changing: undefined,
          last: kept ? t?.last : undefined, changes: kept ? t?.changes ?? { up: 0, down: 0 } : { up: 0, down: 0 } };
        this.pools.set(pool.name, t);
      } else if (t.state.size !== size) {
        // `actorrt scale` or a reload changed it: what was measured at the old size says nothing now.
        const pinned = this.reloader.pinned.get(pool.name);
        t.last = { at: new Date(now).toISOString(), from: t.state.size, to: size, reason: pinned === size ? 'pinned by actorrt scale' : 'set by a reload (new bounds) or actorrt scale' };
        t.state = initialState(size, now);
        t.samples = [];
      }
      out.push([pool, t]);
    }
    return out;
  }

  /**
   * Difference each process's counters with its previous reading; a sample counts only if every
   * process running the pool answered twice, unchanged. Where the unit is per front worker (an
   * inline pool's size, a thread pool's threads), every worker gets the same size, so the worker
   * that needs most decides: the signal is that worker's, not the average (connections do not
   * move once accepted: after a worker restart, one worker may hold twice the other's load, and
   * an average at target hid its queue; found by a hostile run). An isolated pool's processes
   * share the load through least-loaded dispatch: its signal is the sum over them.
   */
  private sample(pool: PoolConfig, t: Tracked, loads: ReadonlyMap<Child, ProcessStats>, at: number, memory: MemoryReading): void {
    const config = this.processes.config;
    const perWorker = t.unit !== 'processes';
    const hosts = this.processes.supervisor.list(perWorker ? FRONT : pool.name).filter((c) => c.state === 'up');
    const size = pool[t.unit] ?? t.policy.min;
    const readings = new Map<Child, Reading>();
    let complete = hosts.length > 0;
    let completed = 0;
    const parts: Array<{ actors: number; inflight: number; busy: number }> = [];
    for (const child of hosts) {
      const load = loads.get(child)?.loads.find((l) => l.pool === pool.name);
      if (load === undefined) {
        complete = false;
        t.unanswered = child.spec.name;
        continue;
      }
      const now: Reading = { pid: child.pid, completed: load.completed, inflightSeconds: load.inflightSeconds, busySeconds: load.busySeconds };
      readings.set(child, now);
      const before = t.readings.get(child);
      // A process restarted, or its pool was replaced (new code): its counters started again.
      if (before === undefined || before.pid !== now.pid || now.completed < before.completed || now.inflightSeconds < before.inflightSeconds) {
        complete = false;
        continue;
      }
      completed += now.completed - before.completed;
      parts.push({ actors: load.actors, inflight: now.inflightSeconds - before.inflightSeconds, busy: now.busySeconds - before.busySeconds });
    }
    const since = t.sampledAt;
    const sameSize = t.sizeAtSample === size;
    t.readings = readings;
    t.sampledAt = at;
    t.sizeAtSample = size;
    const load = perWorker ? hottest(parts, t.policy.signal) : total(parts);
    if (!complete || !sameSize || since === undefined || at <= since || load === undefined || load.actors === 0) return;
    t.unanswered = undefined;
    t.completeAt = at;
    const span = at - since;
    // A new process of an isolated pool has its own memory bound: only the host's memory gates it.
    const short = memoryShort(memory, perWorker ? hosts.map((c) => ({ name: c.spec.name, rss: c.vitals.rss, bound: config.http.maxRss })) : []);
    t.samples.push({
      at, span, size, actors: load.actors, completed, inflight: (load.inflight * 1000) / span, busy: (load.busy * 1000) / span,
      ...(short === undefined ? {} : { memoryShort: short }),
    });
    const keep = Math.max(t.policy.up.window, t.policy.down.window) + 2 * t.policy.interval;
    while (t.samples.length > 0 && (t.samples[0]?.at ?? at) < at - keep) t.samples.shift();
  }

  private async act(pool: PoolConfig, t: Tracked, now: number): Promise<void> {
    const d = decide(t.policy, t.samples, now, t.state);
    t.decision = d;
    if (d.size === t.state.size) {
      t.state = d.state;
      return;
    }
    if (this.reloader.pinned.has(pool.name) || (t.unit === 'processes' && this.processes.isDown(pool.name))) return;
    if (t.failing !== undefined && now < t.failing.retryAt) return;
    const from = t.state.size;
    t.changing = `changing ${from} -> ${d.size}: ${d.reason}`;
    const result = await this.reloader.autoscale(pool.name, from, d.size).finally(() => { t.changing = undefined; });
    if (result === 'superseded' || this.stopped) return; // a reload or scale changed the pool meanwhile, or the instance is stopping
    const at = Date.now();
    if (result !== 'applied') {
      // Backed off, doubling from one up window up to MAX_RETRY_MS: a change that fails (new
      // processes whose init() throws) is not tried again every window forever.
      const count = (t.failing?.count ?? 0) + 1;
      const retryAt = at + Math.min(MAX_RETRY_MS, t.policy.up.window * 2 ** (count - 1));
      t.failing = { count, retryAt, error: `${result.code}: ${result.message}`, from, to: d.size };
      t.samples = [];
      t.state = { ...t.state, since: at };
      this.log.warn({ event: 'autoscale-failed', pool: pool.name, unit: t.unit, from, to: d.size, code: result.code, err: result.message, failures: count, retryAt: new Date(retryAt).toISOString() },
        `pool ${pool.name}: autoscaling ${t.unit} ${from} -> ${d.size} failed (${count} in a row); the pool keeps ${from}, next try in ${Math.round((retryAt - at) / 1000)}s`);
      return;
    }
    t.failing = undefined;
    t.state = applied(d, at);
    t.samples = [];
    t.changes[d.direction === 'up' ? 'up' : 'down']++;
    t.last = { at: new Date(at).toISOString(), from, to: d.size, reason: d.reason };
    this.log.info({
      event: 'autoscale', pool: pool.name, unit: t.unit, from, to: d.size, direction: d.direction, signal: t.policy.signal,
      ...(d.signal === undefined ? {} : { value: round(d.signal) }), ...(d.rate === undefined ? {} : { rate: round(d.rate) }), reason: d.reason,
    }, `pool ${pool.name}: ${t.unit} ${from} -> ${d.size} (${d.reason})`);
  }
}

type Part = { readonly actors: number; readonly inflight: number; readonly busy: number };

/** The part whose signal per actor is highest. */
function hottest(parts: readonly Part[], signal: Policy['signal']): Part | undefined {
  let best: Part | undefined;
  const of = (p: Part): number => (signal === 'inflight' ? p.inflight : p.busy) / Math.max(1, p.actors);
  for (const p of parts) if (best === undefined || of(p) > of(best)) best = p;
  return best;
}

function total(parts: readonly Part[]): Part | undefined {
  if (parts.length === 0) return undefined;
  return parts.reduce((a, b) => ({ actors: a.actors + b.actors, inflight: a.inflight + b.inflight, busy: a.busy + b.busy }));
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
