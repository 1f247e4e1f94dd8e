import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CallMessage, PrimaryMessage, ReplyMessage, ShutdownMessage } from '../protocol/messages.js';
import type { Invalidation } from '../protocol/shapes.js';
import type { ConnectionHandle } from '../spread/board.js';
import { decide, decideKeepServing, prune, type RestartPolicy } from '../supervision/policy.js';
import { ChildLink, deadProcess, forkProcess, relayInvalidation, type ChildProcessLike, type ForkChild } from './child-link.js';
import type { Vitals } from '../supervision/liveness.js';
import type { Child, ChildSpec, ChildState, GroupRecord } from './child.js';
import type { ProcessReports } from './reports.js';
import { StartAttempt, STOP_NOW } from './start-attempt.js';

/** How long a child may take from fork to ready before its start counts as failed. */
export const READY_TIMEOUT = 30_000;
/** How long a child has to answer a reconfigure or stats message. */
const CALL_TIMEOUT = 30_000;
/** Past a drain deadline, how long before a child that has not exited is killed. */
export const KILL_GRACE = 5000;
/** How long an invalidation waits for each other process (below the asker's own wait, 3 s). */
const INVALIDATE_TIMEOUT = 2000;

export interface SupervisorHooks {
  policy(group: string): RestartPolicy;
  /** Whether a group's children are restarted whatever happens once they have served (front workers), counting only failed starts toward giving up. */
  keepServing(group: string): boolean;
  /** A child reported ready (first start, a reload's new child, or `restarted` after it died). */
  ready(child: Child, restarted: boolean): void;
  /** A child is being restarted after an exit (for counters). */
  restarting(child: Child): void;
  /** A group exceeded its restart intensity (its children are being stopped). */
  gaveUp(group: string, reason: string, child: Child): void;
  /** Front worker `from` sent a connection past its share, or one sent to it never reached it: give it to a worker that accepts. */
  handOff(from: Child, handle: ConnectionHandle): void;
  /** A child's process exited (before its restart, if any, is decided). */
  exited(child: Child): void;
  /** Carry a child's invalidation beyond this instance (the invalidation bus); resolves when peers confirmed or its bound passed. */
  beyond(inv: Invalidation): Promise<void>;
}

export interface SupervisorOptions {
  /** How to start a process (default: node's fork). */
  readonly fork?: ForkChild;
  /** From fork to ready, in ms (default READY_TIMEOUT). */
  readonly readyTimeout?: number;
}

/** The mutable record behind a Child: written only in this module. */
class ChildRecord implements Child {
  state: ChildState = 'starting';
  listed = false;
  generation = 0;
  vitals: Vitals;
  link: ChildLink | undefined;
  retry: NodeJS.Timeout | undefined;
  /** Resolves when the current process exits. */
  exited: Promise<void> = Promise.resolve();
  /** Told to stop (terminate): never listed again. */
  terminating = false;
  /** The process the watchdog already killed (its exit may not have arrived yet). */
  killed: ChildLink | undefined;
  /** Calls under way that block its event loop on purpose (heap snapshots): the watchdog leaves it alone while any is. */
  excusals = 0;

  constructor(readonly spec: ChildSpec, now: number) {
    this.vitals = { lastAlive: now, rss: undefined };
  }

  get pid(): number | undefined {
    return this.link?.gone === false ? this.link.pid : undefined;
  }

  get excused(): boolean {
    return this.excusals > 0;
  }
}

interface Group {
  history: number[];
  restarts: number;
  lastError: string | undefined;
  lastFailure: ActorrtError | undefined;
  down: string | undefined;
  failedStarts: number;
}

/**
 * One supervisor for every child process of the instance, with dynamic children (OTP's
 * simple_one_for_one): `spawn` adds one, `terminate` retires one, and a child that exits
 * unexpectedly is restarted under its group's intensity and backoff, keeping its id and socket.
 * Past the intensity the group is given up (`gaveUp`). A child that fails before its first ready
 * is restarted only when asked to (`retryStart`), so a reload's new child that cannot start is
 * reported rather than respawned in a loop.
 *
 * It is the only writer of a child's state, listing, generation and vitals, and of each group's
 * restart record: reloads, the watchdog and recycling ask through its methods. Every message to
 * a child goes through the child's link, so nothing a child does (dying mid-write included) can
 * throw out of here.
 */
export class ChildSupervisor {
  private readonly children = new Map<Child, ChildRecord>();
  private readonly groups = new Map<string, Group>();
  private readonly fork: ForkChild;
  private readonly readyTimeout: number;
  private stopping = false;
  /** Groups that take no new child and restart none (the instance is leaving its load balancers before it stops). */
  private readonly closed = new Set<string>();
  /** Waiting for a group to have no child left (`emptied`), by group. */
  private readonly emptyWaiters = new Map<string, Array<() => void>>();

  constructor(private readonly log: Logger, private readonly reports: ProcessReports, private readonly hooks: SupervisorHooks, options: SupervisorOptions = {}) {
    this.fork = options.fork ?? forkProcess;
    this.readyTimeout = options.readyTimeout ?? READY_TIMEOUT;
  }

  /** Children of `group` (every child without it), oldest first. */
  list(group?: string): Child[] {
    return [...this.children.keys()].filter((c) => group === undefined || c.spec.group === group);
  }

  /** Restart record of a group. */
  group(name: string): GroupRecord {
    return this.groupOf(name);
  }

  /** Forget a group's give-up and restart window (a reload brings it back); totals and the last error stay for status. */
  revive(name: string): void {
    const g = this.groupOf(name);
    g.down = undefined;
    g.history.length = 0;
  }

  /**
   * Fork a child and resolve once it is ready; reject with the reason if it fails first. With
   * `retryStart`, a failed start is handed to supervision (restarted with backoff) instead.
   */
  spawn(spec: ChildSpec, retryStart: boolean): { child: Child; ready: Promise<void> } {
    const record = new ChildRecord(spec, Date.now());
    // A reload still under way when the instance stops must not start what stopAll would miss.
    if (this.stopping || this.closed.has(spec.group)) {
      return { child: record, ready: Promise.reject(new ActorrtError('ACTORRT_E_STARTUP', `${spec.name} not started: the instance is stopping`)) };
    }
    this.children.set(record, record);
    return { child: record, ready: this.start(record, retryStart) };
  }

  /** Send a reconfigure, stats or invalidate message and wait for the child's reply. */
  call(child: Child, message: CallMessage, timeout = CALL_TIMEOUT): Promise<ReplyMessage> {
    const link = this.children.get(child)?.link;
    if (link === undefined) return Promise.reject(new Error(`${child.spec.name} is not running`));
    return link.call(message, timeout);
  }

  /** Send `message` to every child whose channel is open (a child that just died is skipped or handled by its link). */
  tellAll(message: PrimaryMessage): void {
    for (const record of this.children.values()) record.link?.send(message);
  }

  /** Send `message` to `child` if its channel is open. */
  tell(child: Child, message: PrimaryMessage): void {
    this.children.get(child)?.link?.send(message);
  }

  /** Send `child` a connection with `message`; one that does not reach it comes back through the handOff hook (`from` the child). */
  tellWith(child: Child, message: PrimaryMessage, handle: ConnectionHandle): void {
    const link = this.children.get(child)?.link;
    if (link === undefined) this.hooks.handOff(child, handle);
    else link.sendConnection(message, handle);
  }

  /** `child`'s process runs and its channel is open (a send may still fail: it may have died a moment ago). */
  reachable(child: Child): boolean {
    return this.children.get(child)?.link?.connected === true;
  }

  /** Drop `inv` from every running process's memory stores (another instance invalidated it); resolves when each confirmed or timed out. */
  relayAll(inv: Invalidation): Promise<void> {
    return relayInvalidation(inv, this.running(), INVALIDATE_TIMEOUT, this.log);
  }

  /** ChildRecord that `child` now runs topology `generation` (it applied a reconfigure). */
  applied(child: Child, generation: number): void {
    const record = this.children.get(child);
    if (record !== undefined) record.generation = generation;
  }

  /** Take `child` out of routing (peers learn it at the next broadcast); it is terminated afterwards. */
  unlist(child: Child): void {
    const record = this.children.get(child);
    if (record !== undefined) record.state = 'retiring';
  }

  /** Undo `unlist` (a reload that failed keeps its victims): only a child still running and not yet told to stop. */
  relist(child: Child): void {
    const record = this.children.get(child);
    if (record?.state === 'retiring' && record.link?.connected === true && !record.terminating) record.state = 'up';
  }

  /** The watchdog's verdict: kill `child` (supervision restarts it like any crash), with why for status; false if it was already killed. */
  kill(child: Child, why: string): boolean {
    const record = this.children.get(child);
    const link = record?.link;
    // Once per process: its exit may take more than a watchdog tick to arrive on a busy machine.
    if (record === undefined || link === undefined || link.gone || record.killed === link) return false;
    record.killed = link;
    this.groupOf(child.spec.group).lastError = why;
    link.kill('SIGKILL');
    return true;
  }

  /**
   * Leave `child` to itself (the watchdog neither kills nor recycles it) until the returned
   * function is called: a heap snapshot blocks its event loop, and grows it, on purpose. Its
   * silence is counted from then on, as if it had just sent a heartbeat.
   */
  excuse(child: Child): () => void {
    const record = this.children.get(child);
    if (record === undefined) return () => undefined;
    record.excusals++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      record.excusals--;
      record.vitals = { lastAlive: Date.now(), rss: record.vitals.rss };
    };
  }

  /** The primary itself was held up: heartbeats that arrived meanwhile are still queued, so every clock restarts at `now`. */
  excuseSilence(now: number): void {
    for (const record of this.children.values()) record.vitals = { lastAlive: now, rss: record.vitals.rss };
  }

  /**
   * Retire a child: it drains (`retire`: its peers have already stopped routing to it) and
   * exits; killed past `timeout`. Resolves once it has exited.
   */
  terminate(child: Child, mode: ShutdownMessage['mode'], timeout: number): Promise<void> {
    const record = this.children.get(child);
    if (record === undefined) return Promise.resolve();
    record.state = 'retiring';
    record.terminating = true;
    clearTimeout(record.retry);
    const link = record.link;
    if (link === undefined || link.gone) {
      this.children.delete(child); // exited, or waiting for a restart (cancelled above)
      return Promise.resolve();
    }
    // A child whose channel is gone cannot be told: it drains on its own 'disconnect' (and ignores SIGTERM), so the kill below bounds it.
    if (!link.send({ type: 'shutdown', timeout, mode } satisfies ShutdownMessage)) link.kill('SIGTERM');
    const kill = setTimeout(() => link.kill('SIGKILL'), timeout + KILL_GRACE);
    kill.unref();
    return record.exited.finally(() => clearTimeout(kill));
  }

  /**
   * The instance is about to stop: `group` gets no new child and no restart from now on (one that
   * exits stays gone, one still starting is told to stop, a restart already scheduled is
   * cancelled), while the rest of the instance is supervised as before until `stopAll`. Front
   * workers leaving their load balancers must not be replaced by one that reports ready.
   */
  /** Whether `group` was closed (`close`) and the instance does not stop yet: front workers leaving their load balancers, still listening. */
  closedButServing(group: string): boolean {
    return this.closed.has(group) && !this.stopping;
  }

  close(group: string): void {
    this.closed.add(group);
    for (const record of this.children.values()) {
      if (record.spec.group !== group || record.state !== 'restarting') continue;
      clearTimeout(record.retry);
      this.children.delete(record);
    }
  }

  /**
   * Resolves once `group` has no child left (at once when it has none): a closed group whose last
   * process exited, as when every front worker of a leaving instance crashed.
   */
  emptied(group: string): Promise<void> {
    if (this.list(group).length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = this.emptyWaiters.get(group) ?? [];
      waiting.push(resolve);
      this.emptyWaiters.set(group, waiting);
    });
  }

  /** Stop everything: no more restarts; `first` group drains before the rest (front workers stop sending first). */
  async stopAll(timeout: number, first: string): Promise<void> {
    this.stopping = true;
    const all = this.list();
    await Promise.all(all.filter((c) => c.spec.group === first).map((c) => this.terminate(c, 'stop', timeout)));
    await Promise.all([...this.list()].reverse().map((c) => this.terminate(c, 'stop', timeout)));
  }

  /** Kill every child at once (start-up failed, or a second signal). */
  killAll(): void {
    this.stopping = true;
    for (const record of this.children.values()) {
      clearTimeout(record.retry);
      record.link?.kill('SIGKILL');
    }
  }

  /** Calls waiting for a reply over every child (a test's invariant: none once their children exited). */
  pendingCalls(): number {
    let n = 0;
    for (const record of this.children.values()) n += record.link?.pendingCalls ?? 0;
    return n;
  }

  private groupOf(name: string): Group {
    let g = this.groups.get(name);
    if (g === undefined) {
      g = { history: [], restarts: 0, lastError: undefined, lastFailure: undefined, down: undefined, failedStarts: 0 };
      this.groups.set(name, g);
    }
    return g;
  }

  /** Fork the record's process and drive it to ready; resolves then, rejects if it exits first. */
  private start(record: ChildRecord, retryStart: boolean): Promise<void> {
    const { spec } = record;
    const group = this.groupOf(spec.group);
    record.state = 'starting';
    record.terminating = false;
    let exited!: () => void;
    record.exited = new Promise((resolve) => { exited = resolve; });
    return new Promise<void>((resolve, reject) => {
      const attempt = new StartAttempt(resolve, reject, retryStart);
      const forkedAt = performance.now();
      const link: ChildLink = new ChildLink(this.forkSafely(spec), spec.name, this.log, {
        booted: () => {
          if (this.leaving(record)) return STOP_NOW;
          const { message, generation } = spec.start();
          record.generation = generation;
          return message;
        },
        ready: () => this.ready(record, attempt, link, forkedAt),
        failed: (error) => {
          attempt.clearDeadline();
          group.lastError = `${error.code}: ${error.message}`;
          group.lastFailure = error;
          attempt.failure = error;
        },
        escalated: (msg) => {
          group.lastError = `escalated: ${msg.reason}`;
          this.log.error({ ...spec.fields, childPid: link.pid, pool: msg.pool, reason: msg.reason, event: 'escalated' }, `${spec.name} escalated a pool failure; it will be restarted`);
        },
        alive: (msg) => { record.vitals = { lastAlive: Date.now(), rss: msg.rss }; },
        ...this.reports.from(spec.name, () => link.pid),
        invalidate: (msg) => {
          const { id, type: _, ...inv } = msg;
          // Every other process here and every other instance, at once; the asker answers its request only after both.
          void Promise.all([relayInvalidation(inv, this.running(link), INVALIDATE_TIMEOUT, this.log), this.hooks.beyond(inv)])
            .then(() => link.send({ type: 'invalidated', id }));
        },
        handOff: (handle) => this.hooks.handOff(record, handle),
        returned: (handle) => this.hooks.handOff(record, handle),
        scrape: (msg) => {
          this.reports.expose(msg.openMetrics).then((out) => link.send({ type: 'scraped', id: msg.id, ...out }), (err: unknown) => {
            link.send({ type: 'scraped', id: msg.id, error: err instanceof Error ? err.message : String(err) });
          });
        },
        exit: (code, signal, unstarted) => {
          exited();
          this.hooks.exited(record);
          if (unstarted === undefined) this.exited(record, attempt, link.pid, code, signal);
          else this.unstarted(record, attempt, unstarted);
          this.settleEmpty(spec.group);
        },
      });
      record.link = link;
      attempt.deadline = setTimeout(() => {
        group.lastError = `did not report ready within ${this.readyTimeout} ms`;
        link.kill('SIGKILL');
      }, this.readyTimeout);
    });
  }

  /** Links of the processes that hold caches now (serving or draining), but `except`. */
  private running(except?: ChildLink): ChildLink[] {
    return [...this.children.values()].filter((r) => r.link !== except && (r.state === 'up' || r.state === 'retiring')).flatMap((r) => (r.link === undefined ? [] : [r.link]));
  }

  /** A child told to stop (retired, the instance is stopping, or its group is closed) is not taken into service. */
  private leaving(record: ChildRecord): boolean {
    return record.state === 'retiring' || this.stopping || this.closed.has(record.spec.group);
  }

  private ready(record: ChildRecord, attempt: StartAttempt, link: ChildLink, forkedAt: number): void {
    attempt.clearDeadline();
    // From the fork to its ready message (bench/cold-start.ts reads it).
    this.log.debug({ ...record.spec.fields, childPid: link.pid, event: 'child-ready', startMs: Math.round(performance.now() - forkedAt) }, `${record.spec.name} ready`);
    if (this.leaving(record)) {
      // It may have missed the shutdown (sent before its listener was in place): tell it again.
      attempt.reject(new ActorrtError('ACTORRT_E_STARTUP', `${record.spec.name} was stopped before it was ready`));
      link.send(STOP_NOW);
      return;
    }
    if (attempt.settled) return; // a second ready from the same process changes nothing
    const restarted = record.listed;
    this.groupOf(record.spec.group).failedStarts = 0;
    record.vitals = { lastAlive: Date.now(), rss: record.vitals.rss };
    if (record.state === 'starting') record.state = 'up';
    record.listed = true;
    attempt.resolve();
    this.hooks.ready(record, restarted);
  }

  /** The one exit of a process: settle its start, then forget the child or have it restarted. */
  private exited(record: ChildRecord, attempt: StartAttempt, pid: number | undefined, code: number | null, signal: NodeJS.Signals | null): void {
    const { spec } = record;
    const group = this.groupOf(spec.group);
    attempt.clearDeadline();
    this.reports.exited(spec.name);
    const beforeReady = record.state === 'starting';
    if (beforeReady) group.failedStarts++;
    attempt.reject(attempt.failure ?? new ActorrtError('ACTORRT_E_STARTUP', beforeReady || !attempt.settled
      ? `${spec.name} exited during start-up (code ${String(code)}, signal ${String(signal)})${group.lastError === undefined ? '' : `: ${group.lastError}`}`
      : `${spec.name} was stopped before it was ready`));
    if (this.leaving(record) || (beforeReady && !attempt.retryStart && !record.listed)) {
      this.children.delete(record);
      return;
    }
    this.restart(record, pid, code, signal);
  }

  /**
   * The fork itself failed (EMFILE, ENFILE, EAGAIN: the primary is short of descriptors or
   * processes for a moment). That is not the child's failure: it counts toward neither the
   * restart intensity nor failed starts (a burst of them would give the whole instance up), and
   * the start is tried again after the group's longest backoff until it works or the child is
   * no longer wanted.
   */
  private unstarted(record: ChildRecord, attempt: StartAttempt, err: Error): void {
    const { spec } = record;
    const group = this.groupOf(spec.group);
    attempt.clearDeadline();
    group.lastError = `could not start a process: ${err.message}`;
    attempt.reject(new ActorrtError('ACTORRT_E_STARTUP', `${spec.name} could not be started: ${err.message}`));
    if (this.leaving(record) || group.down !== undefined || (!attempt.retryStart && !record.listed)) {
      this.children.delete(record);
      return;
    }
    const delay = this.hooks.policy(spec.group).backoff.max;
    this.log.error({ ...spec.fields, err: err.message, delay, event: 'fork-failed' }, `${spec.name} could not be started (the primary is short of resources); trying again`);
    this.startAgain(record, delay);
  }

  /** Fork `record` again after `delay` ms, unless the instance stops, the child is retired or its group is given up meanwhile. */
  private startAgain(record: ChildRecord, delay: number): void {
    record.state = 'restarting';
    record.retry = setTimeout(() => {
      if (this.stopping || record.state !== 'restarting' || this.closed.has(record.spec.group)) return;
      if (this.groupOf(record.spec.group).down !== undefined) {
        this.children.delete(record);
        return;
      }
      this.start(record, true).catch(() => undefined); // a failed start comes back through its exit
    }, delay);
  }

  /** Resolve `emptied` waiters of `group` if it has no child left. */
  private settleEmpty(group: string): void {
    const waiting = this.emptyWaiters.get(group);
    if (waiting === undefined || this.list(group).length > 0) return;
    this.emptyWaiters.delete(group);
    for (const resolve of waiting) resolve();
  }

  /** node's fork can throw at once (spawn errors other than EAGAIN/EMFILE/ENOENT): that is a process that exited at once. */
  private forkSafely(spec: ChildSpec): ChildProcessLike {
    try {
      return this.fork({ entry: spec.entry, fds: spec.fds });
    } catch (err) {
      return deadProcess(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private restart(record: ChildRecord, pid: number | undefined, code: number | null, signal: NodeJS.Signals | null): void {
    const { spec } = record;
    const group = this.groupOf(spec.group);
    if (group.down !== undefined) {
      this.children.delete(record);
      return;
    }
    const now = Date.now();
    const policy = this.hooks.policy(spec.group);
    prune(group.history, now, policy.within);
    const decision = this.hooks.keepServing(spec.group)
      ? decideKeepServing(policy, group.history, now, group.failedStarts)
      : decide({ ...policy, strategy: 'one-for-one' }, group.history, now);
    const fields = { ...spec.fields, childPid: pid, code, signal, count: decision.count, lastError: group.lastError };
    if (decision.action !== 'restart-one') {
      group.down = decision.action === 'escalate' ? decision.reason : decision.action;
      this.children.delete(record);
      // Restarts already scheduled in the group are cancelled here (OTP: a supervisor that gives
      // up takes its children with it); running siblings are stopped by the hook, with their drain.
      for (const sibling of this.children.values()) {
        if (sibling.spec.group !== spec.group || sibling.state !== 'restarting') continue;
        clearTimeout(sibling.retry);
        this.children.delete(sibling);
      }
      this.hooks.gaveUp(spec.group, group.down, record);
      return;
    }
    group.history.push(now);
    group.restarts++;
    this.startAgain(record, decision.delay);
    this.hooks.restarting(record);
    this.log.warn({ ...fields, delay: decision.delay, event: 'restarting' }, `${spec.kind} exited; restarting`);
  }
}
