import { fork, type ChildProcess } from 'node:child_process';
import { ActorrtError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { InvalidateMessage, PrimaryMessage, ReconfigureMessage, ReplyMessage, ShutdownMessage } from '../protocol.js';
import type { Vitals } from '../supervision/liveness.js';
import { decide, decideKeepServing, prune, type RestartPolicy } from '../supervision/policy.js';
import { handshake } from './handshake.js';
import type { ProcessReports } from './reports.js';

/** How long a child may take from fork to ready before its start counts as failed. */
export const READY_TIMEOUT = 30_000;
/** How long a child has to answer a reconfigure or stats message. */
const CALL_TIMEOUT = 30_000;
/** Past a drain deadline, how long before a child that has not exited is killed. */
const KILL_GRACE = 5000;

/** What to run as one child: which group it belongs to and how to start it. */
export interface ChildSpec {
  /** `front` for front workers, else the isolated pool's name; restarts are counted per group. */
  readonly group: string;
  /** Unique for the life of the instance (socket names use it); kept across restarts. */
  readonly id: number;
  /** Its number within its group, never reused (status shows it). */
  readonly index: number;
  /** As status and logs name it: `worker 2`, `thumbs process 5`. */
  readonly name: string;
  /** What logs call a child of its kind. */
  readonly kind: 'worker' | 'pool process';
  readonly entry: string;
  /** Where this child serves its pools to peers (kept across restarts, so peers' channels reconnect). */
  readonly socket: string;
  /** Descriptors handed to the child from fd 4 on (front workers: the listening socket). */
  readonly fds: readonly number[];
  /** Fields every log line about this child carries. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** The start message, built when the child has booted (so it carries the topology in force then). */
  start(child: Child): PrimaryMessage;
}

/**
 * starting: forked, not ready yet; up: ready; restarting: exited, a restart is scheduled;
 * retiring: told to drain and exit (shrink, roll, shutdown).
 */
export type ChildState = 'starting' | 'up' | 'restarting' | 'retiring';

/** One supervised child process. */
export interface Child {
  readonly spec: ChildSpec;
  proc: ChildProcess | undefined;
  state: ChildState;
  /** Ready at least once: its socket is published to peers from then on. */
  listed: boolean;
  /** Topology generation it was last given (start or reconfigure). */
  generation: number;
  /** What its heartbeats said (the watchdog reads it). */
  vitals: Vitals;
}

/** Restart intensity per group, and what it led to. */
export interface GroupRecord {
  readonly history: number[];
  /** Restarts since start (the window above forgets). */
  restarts: number;
  lastError: string | undefined;
  /** The last start-up failure a child of this group reported, with its code. */
  lastFailure: ActorrtError | undefined;
  /** Set once the group was given up, with why. */
  down: string | undefined;
  /** Children of this group that exited before their first ready, since one last became ready. */
  failedStarts: number;
}

export interface SupervisorHooks {
  policy(group: string): RestartPolicy;
  /** Whether a group's children are restarted whatever happens once they have served (front workers), counting only failed starts toward giving up. */
  keepServing(group: string): boolean;
  /** A child reported ready (first start, a reload's new child, or `restarted` after it died). */
  ready(child: Child, restarted: boolean): void;
  /** A child is being restarted after an exit (for counters). */
  restarting(child: Child): void;
  /** A group exceeded its restart intensity. */
  gaveUp(group: string, reason: string, child: Child): void;
  /** A child invalidated cache keys (the others must drop them before it answers its client). */
  invalidate(from: Child, msg: InvalidateMessage): void;
}

interface Internal {
  readonly calls: Map<number, { resolve(msg: ReplyMessage): void; reject(err: Error): void; timer: NodeJS.Timeout }>;
  retry: NodeJS.Timeout | undefined;
  /** Resolves when the current process exits. */
  exited: Promise<void>;
}

/**
 * One supervisor for every child process of the instance, with dynamic children (OTP's
 * simple_one_for_one): `spawn` adds one, `terminate` retires one, and a child that exits
 * unexpectedly is restarted under its group's intensity and backoff, keeping its id and socket.
 * Past the intensity the group is given up (`gaveUp`). A child that fails before its first ready
 * is restarted only when asked to (`retryStart`), so a reload's new child that cannot start is
 * reported rather than respawned in a loop.
 */
export class ChildSupervisor {
  private readonly children = new Map<Child, Internal>();
  private readonly groups = new Map<string, GroupRecord>();
  private stopping = false;
  private nextCall = 1;

  constructor(private readonly log: Logger, private readonly reports: ProcessReports, private readonly hooks: SupervisorHooks) {}

  /** Children of `group` (every child without it), oldest first. */
  list(group?: string): Child[] {
    return [...this.children.keys()].filter((c) => group === undefined || c.spec.group === group);
  }

  /** Restart record of a group (created on first use). */
  group(name: string): GroupRecord {
    let g = this.groups.get(name);
    if (g === undefined) {
      g = { history: [], restarts: 0, lastError: undefined, lastFailure: undefined, down: undefined, failedStarts: 0 };
      this.groups.set(name, g);
    }
    return g;
  }

  /** Forget a group's give-up and restart window (a reload brings it back); totals and the last error stay for status. */
  revive(name: string): void {
    const g = this.group(name);
    g.down = undefined;
    g.history.length = 0;
  }

  /**
   * Fork a child and resolve once it is ready; reject with the reason if it fails first. With
   * `retryStart`, a failed start is handed to supervision (restarted with backoff) instead.
   */
  spawn(spec: ChildSpec, retryStart: boolean): { child: Child; ready: Promise<void> } {
    const child: Child = { spec, proc: undefined, state: 'starting', listed: false, generation: 0, vitals: { lastAlive: Date.now(), rss: undefined } };
    // A reload still under way when the instance stops must not start what stopAll would miss.
    if (this.stopping) return { child, ready: Promise.reject(new ActorrtError('ACTORRT_E_STARTUP', `${spec.name} not started: the instance is stopping`)) };
    this.children.set(child, { calls: new Map(), retry: undefined, exited: Promise.resolve() });
    return { child, ready: this.fork(child, retryStart) };
  }

  /** Send a reconfigure, stats or invalidate message and wait for the child's reply. */
  call(child: Child, message: Omit<ReconfigureMessage, 'id'> | Omit<InvalidateMessage, 'id'> | { readonly type: 'stats' }, timeout = CALL_TIMEOUT): Promise<ReplyMessage> {
    const internal = this.children.get(child);
    const proc = child.proc;
    if (internal === undefined || proc === undefined || !proc.connected) return Promise.reject(new Error(`${child.spec.name} is not running`));
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        internal.calls.delete(id);
        reject(new Error(`${child.spec.name} did not answer within ${timeout} ms`));
      }, timeout);
      internal.calls.set(id, { resolve, reject, timer });
      proc.send({ ...message, id } as PrimaryMessage);
    });
  }

  /**
   * Retire a child: it drains (`retire`: its peers have already stopped routing to it) and
   * exits; killed past `timeout`. Resolves once it has exited.
   */
  terminate(child: Child, mode: ShutdownMessage['mode'], timeout: number): Promise<void> {
    const internal = this.children.get(child);
    if (internal === undefined) return Promise.resolve();
    child.state = 'retiring';
    clearTimeout(internal.retry);
    const proc = child.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) {
      this.children.delete(child); // exited, or waiting for a restart (cancelled above)
      return Promise.resolve();
    }
    if (proc.connected) proc.send({ type: 'shutdown', timeout, mode } satisfies ShutdownMessage);
    else proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), timeout + KILL_GRACE);
    kill.unref();
    return internal.exited.finally(() => clearTimeout(kill));
  }

  /** Stop everything: no more restarts; `first` group drains before the rest (front workers stop sending first). */
  async stopAll(timeout: number, first: string): Promise<void> {
    this.stopping = true;
    const all = this.list();
    await Promise.all(all.filter((c) => c.spec.group === first).map((c) => this.terminate(c, 'stop', timeout)));
    await Promise.all([...this.list()].reverse().map((c) => this.terminate(c, 'stop', timeout)));
  }

  /** Kill every child at once (start-up failed, or a second signal). */
  kill(): void {
    this.stopping = true;
    for (const [child, internal] of this.children) {
      clearTimeout(internal.retry);
      child.proc?.kill('SIGKILL');
    }
  }

  private fork(child: Child, retryStart: boolean): Promise<void> {
    const internal = this.children.get(child) as Internal;
    const { spec } = child;
    const group = this.group(spec.group);
    const proc = fork(spec.entry, [], { stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...spec.fds] });
    child.proc = proc;
    child.state = 'starting';
    let exited!: () => void;
    internal.exited = new Promise((resolve) => { exited = resolve; });
    return new Promise<void>((resolve, reject) => {
      let failure: ActorrtError | undefined;
      // A child told to stop while it was still loading may have missed the message (nothing
      // listened yet): when it then asks for its start, or reports ready, it is told again.
      const stopNow = (): ShutdownMessage => ({ type: 'shutdown', timeout: 0, mode: 'stop' });
      const cancel = handshake(proc, () => (child.state === 'retiring' || this.stopping ? stopNow() : spec.start(child)), READY_TIMEOUT, {
        ready: () => {
          if (child.state === 'retiring') {
            if (proc.connected) proc.send(stopNow());
            return;
          }
          const restarted = child.listed;
          group.failedStarts = 0;
          child.vitals = { lastAlive: Date.now(), rss: child.vitals.rss };
          if (child.state === 'starting') child.state = 'up';
          child.listed = true;
          resolve();
          this.hooks.ready(child, restarted);
        },
        failed: (msg) => {
          group.lastError = `${msg.code}: ${msg.message}`;
          failure = new ActorrtError(msg.code as ErrorCode, msg.message, msg.hint === undefined ? {} : { hint: msg.hint });
          group.lastFailure = failure;
        },
        escalated: (msg) => {
          group.lastError = `escalated: ${msg.reason}`;
          this.log.error({ ...spec.fields, pid: proc.pid, pool: msg.pool, reason: msg.reason }, `${spec.name} escalated a pool failure; it will be restarted`);
        },
        replied: (msg) => {
          const call = internal.calls.get(msg.id);
          if (call === undefined) return;
          internal.calls.delete(msg.id);
          clearTimeout(call.timer);
          call.resolve(msg);
        },
        invalidate: (msg) => this.hooks.invalidate(child, msg),
        alive: (msg) => { child.vitals = { lastAlive: Date.now(), rss: msg.rss }; },
        ...this.reports.from(spec.name),
        timedOut: () => {
          group.lastError = `did not report ready within ${READY_TIMEOUT} ms`;
          proc.kill('SIGKILL');
        },
      });
      proc.once('exit', (code, signal) => {
        cancel();
        this.reports.exited(spec.name);
        for (const call of internal.calls.values()) {
          clearTimeout(call.timer);
          call.reject(new Error(`${spec.name} exited`));
        }
        internal.calls.clear();
        if (child.proc === proc) child.proc = undefined;
        const beforeReady = child.state === 'starting';
        if (beforeReady) {
          group.failedStarts++;
          reject(failure ?? new ActorrtError('ACTORRT_E_STARTUP', `${spec.name} exited during start-up (code ${String(code)}, signal ${String(signal)})${group.lastError === undefined ? '' : `: ${group.lastError}`}`));
        }
        exited();
        if (this.stopping || child.state === 'retiring' || (beforeReady && !retryStart && !child.listed)) {
          this.children.delete(child);
          return;
        }
        this.restart(child, code, signal);
      });
    });
  }

  private restart(child: Child, code: number | null, signal: string | null): void {
    const internal = this.children.get(child) as Internal;
    const { spec } = child;
    const group = this.group(spec.group);
    if (group.down !== undefined) {
      this.children.delete(child);
      return;
    }
    const now = Date.now();
    const policy = this.hooks.policy(spec.group);
    prune(group.history, now, policy.within);
    const decision = this.hooks.keepServing(spec.group)
      ? decideKeepServing(policy, group.history, now, group.failedStarts)
      : decide({ ...policy, strategy: 'one-for-one' }, group.history, now);
    const fields = { ...spec.fields, pid: child.proc?.pid, code, signal, count: decision.count, lastError: group.lastError };
    if (decision.action !== 'restart-one') {
      group.down = decision.action === 'escalate' ? decision.reason : decision.action;
      this.children.delete(child);
      this.hooks.gaveUp(spec.group, group.down, child);
      return;
    }
    group.history.push(now);
    group.restarts++;
    child.state = 'restarting';
    this.hooks.restarting(child);
    this.log.warn({ ...fields, delay: decision.delay }, `${spec.kind} exited; restarting`);
    internal.retry = setTimeout(() => {
      if (this.stopping || child.state !== 'restarting' || group.down !== undefined) return;
      this.fork(child, true).catch(() => undefined); // a failed restart comes back here through its exit
    }, decision.delay);
  }
}
