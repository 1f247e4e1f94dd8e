import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config, PoolConfig } from '../../config/types.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Endpoints, PrimaryMessage } from '../protocol.js';
import { handshake } from './handshake.js';
import type { ProcessReports } from './reports.js';
import { decide, prune } from '../supervision/policy.js';

const ENTRY = fileURLToPath(new URL('../pool/process-main.js', import.meta.url));
const READY_TIMEOUT = 30_000;

interface Slot {
  readonly pool: PoolConfig;
  readonly index: number;
  readonly socket: string;
  child: ChildProcess | undefined;
  ready: boolean;
}

interface PoolState {
  readonly restarts: number[];
  /** Restarts since start, for status and metrics (the window above forgets). */
  restartsTotal: number;
  down: string | undefined;
  lastError: string | undefined;
  /** The last start-up failure a process of this pool reported, with its code. */
  lastFailure: ActorrtError | undefined;
}

/** What `actorrt status` shows of an isolated pool. */
export interface IsolatedPoolStatus {
  readonly name: string;
  readonly state: 'up' | 'starting' | 'down';
  readonly processes: ReadonlyArray<{ readonly index: number; readonly pid: number | undefined; readonly up: boolean }>;
  readonly restarts: number;
  readonly down?: string;
  readonly lastError?: string;
}

/**
 * Supervises the OS processes of every pool with `processes: N`. Each process is restarted on
 * exit under its pool's intensity (maxRestarts within `within`) with exponential backoff; past
 * that the pool is given up (onPoolDown) and stays down, and the process count never grows.
 * A process that fails during start-up counts the same way, so a pool that cannot start is
 * retried a bounded number of times, never in a hot loop. The one exception is the first start
 * with an unreachable resource, which fails the whole instance (see start()).
 */
export class PoolProcesses {
  /** Socket paths of every pool, by name: isolated pools' processes, and inline pools' front workers (when any pool is isolated). */
  readonly endpoints: Endpoints;
  private readonly slots: Slot[] = [];
  private readonly state = new Map<string, PoolState>();
  private stopping = false;

  /**
   * `frontSockets`: where front worker i serves its inline pools. Pool processes reach inline
   * pools there (ctx.ask from an isolated actor to an inline pool).
   */
  constructor(private readonly config: Config, runtimeDir: string, frontSockets: readonly string[], private readonly log: Logger,
    private readonly reports: ProcessReports, private readonly onPoolDown: (pool: string, reason: string) => void) {
    const endpoints: Record<string, readonly string[]> = {};
    const isolated = Object.values(config.pools).some((p) => p.processes !== undefined);
    for (const pool of Object.values(config.pools)) {
      if (isolated && pool.processes === undefined) endpoints[pool.name] = frontSockets;
    }
    for (const pool of Object.values(config.pools)) {
      if (pool.processes === undefined) continue;
      this.state.set(pool.name, { restarts: [], restartsTotal: 0, down: undefined, lastError: undefined, lastFailure: undefined });
      const sockets: string[] = [];
      for (let index = 0; index < pool.processes; index++) {
        const socket = join(runtimeDir, `${pool.name}.${index}.sock`);
        sockets.push(socket);
        this.slots.push({ pool, index, socket, child: undefined, ready: false });
      }
      endpoints[pool.name] = sockets;
    }
    this.endpoints = endpoints;
  }

  /**
   * Start every process in file order and wait for each first attempt. One that fails is handed
   * to supervision (restarted with backoff, given up past the intensity); the instance starts
   * anyway and that pool answers 503 until a process of it is up.
   */
  async start(): Promise<void> {
    for (const slot of this.slots) {
      const ok = await this.spawn(slot);
      if (ok) continue;
      const state = this.state.get(slot.pool.name) as PoolState;
      // A resource that stayed unreachable through its own start-up retries fails the whole
      // start (exit 1, naming it): serving without the database is not what anyone asked for.
      if (state.lastFailure?.code.startsWith('ACTORRT_E_RESOURCE_') === true) throw state.lastFailure;
      this.log.error({ pool: slot.pool.name, process: slot.index, lastError: state.lastError }, 'pool process failed to start');
    }
  }

  /** Pools the supervisor gave up on, with the reason (sent to every front worker that starts). */
  downPools(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, state] of this.state) if (state.down !== undefined) out[name] = this.describeDown(state);
    return out;
  }

  private describeDown(state: PoolState): string {
    return `${state.down ?? ''}${state.lastError === undefined ? '' : ` (last error: ${state.lastError})`}`;
  }

  /** Every isolated pool with its processes, restarts and, when given up, why. */
  status(): IsolatedPoolStatus[] {
    return [...this.state].map(([name, state]) => {
      const processes = this.slots.filter((s) => s.pool.name === name).map((s) => ({ index: s.index, pid: s.child?.pid, up: s.ready }));
      return {
        name,
        state: state.down !== undefined ? 'down' : processes.every((p) => p.up) ? 'up' : 'starting',
        processes,
        restarts: state.restartsTotal,
        ...(state.down === undefined ? {} : { down: this.describeDown(state) }),
        ...(state.lastError === undefined ? {} : { lastError: state.lastError }),
      };
    });
  }

  /** Whether every process has exited. */
  get idle(): boolean {
    return this.slots.every((s) => s.child === undefined);
  }

  /** Ask every process to drain and exit (reverse order of start); resolves when all have exited. */
  async stop(timeout: number): Promise<void> {
    this.stopping = true;
    const message: PrimaryMessage = { type: 'shutdown', timeout };
    const exits = [...this.slots].reverse().map((slot) => {
      const child = slot.child;
      if (child === undefined || child.exitCode !== null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        if (child.connected) child.send(message);
        setTimeout(() => child.kill('SIGKILL'), timeout + 5000).unref();
      });
    });
    await Promise.all(exits);
  }

  /** Kill everything at once (start-up failed, or a second signal). */
  kill(): void {
    this.stopping = true;
    for (const slot of this.slots) slot.child?.kill('SIGKILL');
  }

  /** Fork the process of a slot; resolves true once it is ready, false if it exited or hung first. */
  private spawn(slot: Slot): Promise<boolean> {
    const state = this.state.get(slot.pool.name) as PoolState;
    return new Promise((resolve) => {
      const child = fork(ENTRY, [], { stdio: 'inherit' });
      const name = `${slot.pool.name} process ${slot.index}`; // as status names it
      slot.child = child;
      const cancel = handshake(child, () => ({
        type: 'start-pool', config: this.config, pool: slot.pool.name, index: slot.index, socket: slot.socket, endpoints: this.endpoints, down: this.downPools(),
      }), READY_TIMEOUT, {
        ready: () => {
          slot.ready = true;
          resolve(true);
        },
        failed: (msg) => {
          state.lastError = `${msg.code}: ${msg.message}`;
          state.lastFailure = new ActorrtError(msg.code as ActorrtError['code'], msg.message, msg.hint === undefined ? {} : { hint: msg.hint });
        },
        escalated: (msg) => { state.lastError = `escalated: ${msg.reason}`; },
        ...this.reports.from(name),
        timedOut: () => {
          state.lastError = `did not report ready within ${READY_TIMEOUT} ms`;
          child.kill('SIGKILL');
        },
      });
      child.once('exit', (code, signal) => {
        cancel();
        this.reports.exited(name);
        resolve(false);
        if (slot.child === child) {
          slot.child = undefined;
          slot.ready = false;
        }
        this.onExit(slot, child, code, signal);
      });
    });
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.stopping) return;
    const state = this.state.get(slot.pool.name) as PoolState;
    if (state.down !== undefined) return;
    const now = Date.now();
    const { supervision } = slot.pool;
    prune(state.restarts, now, supervision.within);
    const decision = decide({ ...supervision, strategy: 'one-for-one' }, state.restarts, now);
    const fields = { pool: slot.pool.name, process: slot.index, processPid: child.pid, code, signal, count: decision.count, lastError: state.lastError };
    if (decision.action !== 'restart-one') {
      state.down = decision.action === 'escalate' ? decision.reason : decision.action;
      this.log.error({ ...fields, reason: state.down }, 'pool process keeps failing; giving the pool up');
      this.reports.counters.record(slot.pool.name, 'give-up');
      for (const s of this.slots) if (s.pool === slot.pool) s.child?.kill('SIGTERM');
      const message: PrimaryMessage = { type: 'pool-down', pool: slot.pool.name, reason: this.describeDown(state) };
      for (const s of this.slots) if (s.child?.connected === true) s.child.send(message);
      this.onPoolDown(slot.pool.name, message.reason);
      return;
    }
    state.restarts.push(now);
    state.restartsTotal++;
    this.reports.counters.record(slot.pool.name, 'process-restart');
    this.log.warn({ ...fields, delay: decision.delay }, 'pool process exited; restarting');
    setTimeout(() => {
      if (this.stopping || state.down !== undefined) return;
      void this.spawn(slot);
    }, decision.delay);
  }
}
