import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { ActorCache, ActorRequest } from '../../actors/index.js';
import type { Config, PoolConfig } from '../../config/types.js';
import type { PoolLookup } from '../channel/endpoint.js';
import { withDeadline } from '../deadline.js';
import { ActorrtError, reviveError } from '../errors.js';
import type { Logger } from '../logger.js';
import { PoolBase, poolDown } from '../pool/pool-base.js';
import type { ResourceMessage } from '../protocol/messages.js';
import { decide, prune } from '../supervision/policy.js';
import type { SupervisionEvent } from '../supervision/counters.js';
import { endWith, openSpan, parentOf, SpanKind, tracer } from '../trace/tracing.js';
import { FrameLink } from './frame-link.js';
import { checkFromThread, type FromThread, type ThreadData, type ToThread } from './messages.js';

const ENTRY = new URL('./main.js', import.meta.url);
/** How long a thread asked to stop may take past its drain before it is terminated. */
const STOP_GRACE_MS = 2000;
/**
 * How long a new thread may take to import its actor and run its init()s. A thread that loops at
 * import time never answers, and the front worker's start or reload would wait on it forever (the
 * thread pinning a core) while the primary gave up on the worker: below the primary's 30 s bound
 * (READY_TIMEOUT, CALL_TIMEOUT in runtime/primary/supervisor.ts), so the error names the pool.
 */
const READY_WITHIN_MS = 20_000;

/** One worker thread of the pool and the requests in flight on it. */
class Thread {
  readonly link: FrameLink;
  /** Serving: ready and neither leaving nor lost. */
  serving = false;
  /** Leaving the pool (it shrank, or it is being replaced): no new requests. */
  retiring = false;
  /** Why it is being replaced (watchdog, escalation), said to the requests that fail with it. */
  reason: string | undefined;
  lastPong = Date.now();
  readonly exited: Promise<number>;

  constructor(readonly index: number, readonly worker: Worker, pools: PoolLookup, log: Logger, changed: (delta: number, size: number) => void) {
    this.link = new FrameLink((batch, transfer) => worker.postMessage(batch, transfer), pools, log, changed);
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
  }

  get inflight(): number {
    return this.link.inflight;
  }

  post(message: ToThread): void {
    this.worker.postMessage(message);
  }
}

/** What a front worker gives its thread pools. */
export interface ThreadPoolDeps {
  readonly log: Logger;
  /** Every pool of the process by name, for the asks of the thread's actors. */
  readonly pools: PoolLookup;
  /** The process's caches, which the threads' ctx.caches calls use. */
  readonly caches: Readonly<Record<string, ActorCache>>;
  onSupervision(event: SupervisionEvent, count: number): void;
  /** The pool's threads failed past its restart intensity: the front worker's own drain and restart (escalateToPrimary). */
  onEscalate(pool: string, reason: string): void;
  onResource(change: Omit<ResourceMessage, 'type'>): void;
}

/**
 * A pool whose actors run in `threads` worker threads of this process (node:worker_threads), `size`
 * actors each: CPU work stays off the front worker's event loop without a socket hop, a thread
 * that loops can be terminated at once, and its heap can be capped (`maxHeap`). Requests go to the
 * least-loaded thread (PoolBase); each thread's window is what its actors can queue.
 *
 * Not piscina: its unit is a task any idle thread may take, with no per-thread state, no way for
 * a task to call back into the main thread while it runs (ctx.ask, ctx.caches) and no lifecycle
 * hooks per thread (init, drain, stop). Actors are stateful, so each thread runs an InlinePool of
 * its own and threads are supervised as a pool process is (thread deaths count against the pool's
 * restart intensity; past it the pool is down, the process and its other pools serve on).
 */
export class ThreadPool extends PoolBase<Thread> {
  private nextIndex = 0;
  private readonly restarts: number[] = [];
  private watch: NodeJS.Timeout;
  private pingN = 0;
  private stopping = false;
  /** Supervision gave the pool up (POOL_DOWN) until a reload. */
  private gaveUp = false;
  /** Threads started and not yet ready (counted when growing, so a replacement and a scale do not both add one). */
  private starting = 0;

  constructor(pool: PoolConfig, private topology: Config, private readonly deps: ThreadPoolDeps) {
    super(pool, (t) => t.serving && !t.retiring);
    this.watch = setInterval(() => this.checkLiveness(), this.pingEvery());
    this.watch.unref();
  }

  /** Start every thread; rejects (naming the pool) if one cannot start. */
  async start(): Promise<void> {
    const started = await Promise.allSettled(Array.from({ length: this.config.threads ?? 1 }, () => this.addThread()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed === undefined) return;
    // The threads that did start must not outlive a pool that never served (a thread left running is CPU and memory for nothing).
    await this.stop(0);
    throw failed.reason;
  }

  /** Actors taking requests. */
  /** Requests answered by threads that have left the pool. */
  private finishedBefore = 0;

  /** Requests replied to in time since the pool started (errors and timeouts are not throughput). */
  get completed(): number {
    let n = this.finishedBefore;
    for (const t of this.members) n += t.link.replied;
    return n;
  }

  get actors(): number {
    let n = 0;
    for (const t of this.members) if (t.serving && !t.retiring) n += this.config.size;
    return n;
  }

  override get busy(): number {
    let n = 0;
    for (const t of this.members) n += Math.min(t.inflight, this.config.size);
    return n;
  }

  /** Threads serving now. */
  get threads(): number {
    return this.members.filter((t) => t.serving && !t.retiring).length;
  }

  /** New settings: the threads take size, mailbox, timeouts and supervision live; the pool grows or shrinks to `threads`. */
  async reconfigure(pool: PoolConfig, topology: Config): Promise<void> {
    this.configure(pool);
    this.topology = topology;
    clearInterval(this.watch);
    this.watch = setInterval(() => this.checkLiveness(), this.pingEvery());
    this.watch.unref();
    for (const t of this.members) if (t.serving) t.post({ t: 'reconfigure', config: topology });
    const staying = this.members.filter((t) => !t.retiring);
    const want = pool.threads ?? 1;
    const have = staying.length + this.starting;
    if (have < want) await Promise.all(Array.from({ length: want - have }, () => this.addThread()));
    if (this.gaveUp) {
      // A reload revives a pool supervision gave up on (as it does an isolated pool), with a fresh restart window.
      this.gaveUp = false;
      this.restarts.length = 0;
      this.markUp();
    }
    if (have <= want) return;
    const victims = staying.sort((a, b) => a.inflight - b.inflight).slice(0, Math.min(staying.length, have - want));
    for (const t of victims) void this.retire(t, this.config.drainTimeout);
  }

  dispatch(req: ActorRequest, timeout: number): Promise<unknown> {
    const thread = this.admit();
    if (thread instanceof ActorrtError) return Promise.reject(thread);
    if (tracer() === undefined) return thread.link.request(this.name, req, timeout);
    const { trace, span } = openSpan(`dispatch ${this.name}`, SpanKind.CLIENT, parentOf(req.trace), { 'actorrt.pool': this.name, 'actorrt.request_id': req.requestId });
    return endWith(span, thread.link.request(this.name, req, timeout, trace));
  }

  protected async closeMembers(timeout: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.watch);
    await Promise.all(this.members.map((t) => this.retire(t, timeout)));
  }

  protected capacityOf(config: PoolConfig): number {
    return config.size * config.mailbox.capacity;
  }

  protected unreachable(): ActorrtError {
    return poolDown(`no thread of pool "${this.name}" is serving right now`);
  }

  protected full(): ActorrtError {
    return new ActorrtError('ACTORRT_E_MAILBOX_FULL', `every thread of pool "${this.name}" is at capacity`);
  }

  /** Start one thread; it joins the pool once its actors are ready. */
  private async addThread(): Promise<Thread> {
    const index = this.nextIndex++;
    const workerData: ThreadData = { config: this.topology, pool: this.name, index };
    const heap = this.config.maxHeap;
    const worker = new Worker(ENTRY, { workerData, ...(heap === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: Math.max(1, Math.round(heap / 1048576)) } }) });
    const thread = new Thread(index, worker, this.deps.pools, this.deps.log, (delta, size) => {
      // Busy actors on a thread: one per request in flight, up to its `size` actors.
      const per = this.config.size;
      this.loadChanged(delta, Math.min(size, per) - Math.min(size - delta, per));
    });
    this.starting++;
    let late: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      // The thread's own errors already name the pool (InlinePool's `pool "x": init() failed: ...`): said once.
      const failed = (why: string): void => reject(new ActorrtError('ACTORRT_E_ACTOR_INIT',
        `pool "${this.name}": thread ${index} could not start: ${why.startsWith(`pool "${this.name}": `) ? why.slice(this.name.length + 9) : why}`));
      late = setTimeout(() => failed(`it was not ready within ${READY_WITHIN_MS} ms (a loop at import time, or an init() that does not settle)`), READY_WITHIN_MS);
      worker.on('message', (raw: unknown) => {
        if (Array.isArray(raw)) {
          const unreadable = thread.link.receive(raw);
          if (unreadable !== undefined) this.replace(thread, `it sent a malformed frame (${unreadable})`);
          return;
        }
        const m = checkFromThread(raw);
        if (typeof m === 'string') {
          this.deps.log.error({ pool: this.name, thread: index, reason: m }, 'malformed message from a pool thread; dropped');
          return;
        }
        if (m.t === 'ready') resolve();
        else if (m.t === 'failed') failed(reviveError(m.code, m.message).message);
        else this.onMessage(thread, m);
      });
      worker.on('error', (err: Error & { code?: string }) => {
        thread.reason ??= err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `it ran out of its ${Math.round((heap ?? 0) / 1048576)} MiB heap (maxHeap)` : `it threw outside any actor: ${err.message}`;
        failed(thread.reason);
      });
      worker.once('exit', (code) => {
        // Code 0 before ready: the thread's event loop emptied while an init() awaited a promise nothing will settle.
        failed(code === 0 ? 'it exited with code 0 before its actors were ready (an init() awaiting a promise that nothing settles)' : `it exited with code ${code}`);
        this.exited(thread, code);
      });
    });
    try {
      await ready;
    } catch (err) {
      await worker.terminate();
      throw err;
    } finally {
      clearTimeout(late);
      this.starting--;
    }
    thread.lastPong = Date.now();
    thread.serving = true;
    this.members.push(thread);
    return thread;
  }

  private onMessage(thread: Thread, m: Exclude<FromThread, { t: 'ready' } | { t: 'failed' }>): void {
    switch (m.t) {
      case 'pong': thread.lastPong = Date.now(); break;
      case 'supervision': this.deps.onSupervision(m.event, m.count); break;
      case 'escalate': this.replace(thread, `its actors escalated: ${m.reason}`); break;
      case 'resource': this.deps.onResource(m.change); break;
      case 'cache': void this.cache(thread, m); break;
      case 'stopped': break;
    }
  }

  /** Run a ctx.caches call of a thread's actor on this process's caches and post the outcome back. */
  private async cache(thread: Thread, m: Extract<FromThread, { t: 'cache' }>): Promise<void> {
    try {
      const store = this.deps.caches[m.name];
      if (store === undefined) throw new ActorrtError('ACTORRT_E_UNKNOWN_CACHE', `ctx.caches.${m.name}: the topology no longer declares this cache`);
      const value = m.op === 'get' ? await store.get(m.key) : m.op === 'set' ? await store.set(m.key, m.value, m.ttl) : await store.delete(m.key);
      thread.post({ t: 'cache-done', id: m.id, ok: true, value });
    } catch (err) {
      const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_BAD_ARGUMENT', err instanceof Error ? err.message : String(err));
      thread.post({ t: 'cache-done', id: m.id, ok: false, code: e.code, message: e.message });
    }
  }

  /** Ping every serving thread; one whose event loop stayed silent past the watchdog bound is replaced. */
  private checkLiveness(): void {
    const bound = this.watchdog();
    const now = Date.now();
    for (const t of this.members) {
      if (!t.serving) continue;
      if (bound > 0 && now - t.lastPong > bound) {
        this.replace(t, `its event loop did not answer for ${now - t.lastPong} ms (watchdog ${bound} ms)`);
        continue;
      }
      t.post({ t: 'ping', n: this.pingN++ });
    }
  }

  private watchdog(): number {
    return this.config.watchdog ?? this.topology.http.watchdog;
  }

  /** A quarter of the watchdog bound (at most 1 s), so a stuck thread is seen within ~1.25x the bound. */
  private pingEvery(): number {
    const bound = this.watchdog();
    return bound > 0 ? Math.max(25, Math.min(1000, Math.floor(bound / 4))) : 1000;
  }

  /** Terminate `thread` at once (it loops, escalated, or broke the link): its requests fail with THREAD_LOST; supervision decides about a new one. */
  private replace(thread: Thread, reason: string): void {
    if (!thread.serving) return;
    thread.reason ??= reason;
    void thread.worker.terminate();
  }

  /** A thread ended: fail what it held and, unless it was asked to leave, let supervision replace it. */
  private exited(thread: Thread, code: number): void {
    const wasServing = thread.serving;
    thread.serving = false;
    const left = this.leave(thread);
    const reason = thread.reason ?? `it exited with code ${code}`;
    thread.link.failAll(new ActorrtError('ACTORRT_E_THREAD_LOST', `thread ${thread.index} of pool "${this.name}" was replaced before replying: ${reason}`));
    if (left) this.finishedBefore += thread.link.replied;
    this.requestDone();
    if (!wasServing || thread.retiring || this.stopping) return;
    this.replaceLost(thread.index, reason);
  }

  /**
   * Supervision of the pool's threads: a lost thread is replaced after the backoff while the
   * restarts within the window stay within maxRestarts; past that the failure escalates to the
   * front worker, as an inline pool's does (OTP: a supervisor past its intensity exits and its own
   * supervisor decides): the worker drains and the primary restarts it with fresh threads. Giving
   * the pool up inside one worker instead left it down in that worker alone, invisible to `status`
   * (which counts per instance) and revived by no reload that changed nothing (found by a
   * fresh-user run). A replacement that cannot start counts as one more loss.
   */
  private replaceLost(index: number, reason: string): void {
    const now = Date.now();
    const { supervision } = this.config;
    prune(this.restarts, now, supervision.within);
    const decision = decide({ ...supervision, strategy: 'one-for-one' }, this.restarts, now);
    const fields = { pool: this.name, thread: index, reason, count: decision.count, event: 'thread-replaced' };
    if (decision.action !== 'restart-one') {
      const why = decision.action === 'escalate' ? decision.reason : decision.action;
      this.deps.log.error({ ...fields, action: 'escalate' }, `pool thread lost; escalating to the front worker (${why})`);
      this.deps.onSupervision('escalation', 1);
      this.gaveUp = true;
      this.markDown(`its threads failed: ${why} (last: ${reason})`);
      this.deps.onEscalate(this.name, `its threads failed: ${why} (last: ${reason})`);
      return;
    }
    this.restarts.push(now);
    this.deps.log.warn({ ...fields, delay: decision.delay }, 'pool thread lost; thread replaced');
    this.deps.onSupervision('process-restart', 1);
    // Only if still short: a scale or reload during the back-off may have grown the pool already.
    const short = (): boolean => this.members.filter((t) => !t.retiring).length + this.starting < (this.config.threads ?? 1);
    void sleep(decision.delay).then(() => {
      if (this.stopping || this.gaveUp) return undefined;
      if (short()) return this.addThread();
      this.deps.log.info({ pool: this.name, thread: index, event: 'replacement-skipped' }, 'pool thread not replaced: a scale or reload gave the pool its threads meanwhile');
      return undefined;
    }).catch((err: unknown) => {
      if (!this.stopping && !this.gaveUp) this.replaceLost(this.nextIndex - 1, `its replacement could not start: ${(err as Error).message}`);
    });
  }

  /** Take `thread` out: no new requests; what it holds is answered (bounded by `timeout`), then it stops and ends. */
  private async retire(thread: Thread, timeout: number): Promise<void> {
    thread.retiring = true;
    await thread.link.whenIdle(timeout);
    thread.post({ t: 'stop', timeout: Math.max(1, timeout) });
    await withDeadline(thread.exited, STOP_GRACE_MS + timeout);
    await thread.worker.terminate();
    if (this.leave(thread)) this.finishedBefore += thread.link.replied;
    this.requestDone();
  }
}
