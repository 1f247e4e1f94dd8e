import type { AutoscaleStatus } from '../autoscale/autoscaler.js';
import type { BusStatus } from '../bus/invalidation-bus.js';
import type { CacheStatus } from '../cache/stats.js';
import type { SupervisionCounts } from '../supervision/counters.js';
import type { ResourceStatus } from './resource-health.js';
import type { ChildState } from './child.js';

/** One process as `actorrt status` shows it. */
export interface ProcessStatus {
  /** Its number within its group (`worker 2`, `api process 5`); never reused. */
  readonly index: number;
  readonly pid?: number;
  readonly state: ChildState;
  readonly up: boolean;
  /** Messages queued or running in it (absent when it did not answer in time). */
  readonly inflight?: number;
  /** Resident memory in bytes, from its last heartbeat. */
  readonly rss?: number;
}

/** One pool as `actorrt status` shows it. */
export interface PoolStatus {
  readonly name: string;
  /** inline: actors inside every front worker; threads: in worker threads of every front worker; isolated: in processes of their own. */
  readonly kind: 'inline' | 'threads' | 'isolated';
  /** Actors per process (per thread, for a thread pool). */
  readonly size: number;
  /** Thread pools: the threads the topology asks for in every front worker. */
  readonly threadCount?: number;
  readonly state: 'up' | 'starting' | 'down';
  /** Isolated pools: how many processes the topology asks for, and the processes there are (retiring ones too). */
  readonly processCount?: number;
  readonly processes?: readonly ProcessStatus[];
  /** Messages queued or running in the pool, over every process. */
  readonly depth: number;
  /** Actors taking messages now, counted in every process that answered (size x processes once a resize is done). */
  readonly actorsRunning?: number;
  /** Isolated pools: process restarts since start, and within the supervision window now. */
  readonly restarts?: number;
  readonly restartsInWindow?: number;
  readonly down?: string;
  readonly lastError?: string;
  readonly supervision: SupervisionCounts;
  /** Set when the pool autoscales: its bounds, signal, and what the scaler decided. */
  readonly autoscale?: AutoscaleStatus;
}

/** The last reload or scale, applied or refused. */
export interface ReloadOutcome {
  /** `recovery`: the runtime folder was removed under the instance and every process was replaced to bind its socket again. */
  readonly trigger: 'file' | 'signal' | 'command' | 'scale' | 'recovery' | 'autoscale';
  /** ISO time it finished. */
  readonly at: string;
  readonly ok: boolean;
  readonly applied: boolean;
  readonly dryRun: boolean;
  /** The plan, one line per step (empty when nothing changed). */
  readonly plan: readonly string[];
  readonly error?: { readonly code: string; readonly message: string; readonly issues?: readonly string[] };
}

/** What the admin socket's `status` answers and `actorrt status` prints. */
export interface InstanceStatus {
  readonly pid: number;
  readonly url: string;
  readonly file: string;
  readonly uptime: number;
  readonly workers: readonly ProcessStatus[];
  readonly workerRestarts: number;
  readonly pools: readonly PoolStatus[];
  readonly resources: readonly ResourceStatus[];
  /** Every cache store of the topology, over every process. */
  readonly caches: readonly CacheStatus[];
  readonly lastReload?: ReloadOutcome;
  /** Where the metrics listener serves, or why there is none (absent: `admin.metrics: false`). */
  readonly metrics?: { readonly url: string } | { readonly error: string };
  /** The invalidation bus to other instances (absent: the topology has no `bus:`). */
  readonly bus?: BusStatus;
  /**
   * Set once a stop has begun: `leaving` while it leaves its load balancers (http.shutdownDelay:
   * readiness 503, still serving), with `left` ms until the drain; then `draining`.
   */
  readonly stopping?: { readonly phase: 'leaving'; readonly left: number } | { readonly phase: 'draining' };
}

/** What the admin socket's `stop` answers (the stop itself goes on after the answer). All in milliseconds. */
export interface StopAnswer {
  readonly pid: number;
  /** How long the instance keeps serving while it leaves its load balancers (http.shutdownDelay, resolved). */
  readonly leave: number;
  /** http.shutdownTimeout: how long each drain step may take, counted from the end of `leave`. */
  readonly drain: number;
  /** The longest the whole stop can take before every process has exited (leave, both drain steps, their kill grace). */
  readonly within: number;
}

/** Check a `stop` answer's shape. */
export function isStopAnswer(value: unknown): value is StopAnswer {
  const v = value as Partial<StopAnswer> | null;
  return v !== null && typeof v === 'object' && typeof v.pid === 'number' && typeof v.leave === 'number' && typeof v.drain === 'number' && typeof v.within === 'number';
}

/** Check an admin answer's shape once, at the boundary, before anything reads it. */
export function isInstanceStatus(value: unknown): value is InstanceStatus {
  const v = value as Partial<InstanceStatus> | null;
  return v !== null && typeof v === 'object' && typeof v.pid === 'number' && typeof v.url === 'string'
    && Array.isArray(v.workers) && Array.isArray(v.pools) && Array.isArray(v.resources) && Array.isArray(v.caches)
    && (v.stopping === undefined || isStopping(v.stopping));
}

function isStopping(value: unknown): value is NonNullable<InstanceStatus['stopping']> {
  const v = value as { phase?: unknown; left?: unknown } | null;
  return v !== null && typeof v === 'object' && (v.phase === 'draining' || (v.phase === 'leaving' && typeof v.left === 'number'));
}

/** Check a reload / scale answer's shape. */
export function isReloadOutcome(value: unknown): value is ReloadOutcome {
  const v = value as Partial<ReloadOutcome> | null;
  return v !== null && typeof v === 'object' && typeof v.ok === 'boolean' && typeof v.applied === 'boolean' && Array.isArray(v.plan);
}
