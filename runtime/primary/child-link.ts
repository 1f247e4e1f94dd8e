import { fork } from 'node:child_process';
import type { Socket } from 'node:net';
import { isConnectionHandle, type ConnectionHandle } from '../spread/board.js';
import { ActorrtError } from '../errors.js';
import { worthLogging, type Logger } from '../logger.js';
import { BadField, decodeChildMessage, protocolOf } from '../protocol/decode.js';
import type {
  AliveMessage, CallMessage, ChildMessage, EscalateMessage, FinalMetricsMessage, InvalidateMessage, PrimaryMessage, ReadyMessage, ReplyMessage, ResourceMessage, ScrapeMessage, StartupFailedMessage,
  SupervisionMessage,
} from '../protocol/messages.js';
import type { Invalidation } from '../protocol/shapes.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { VERSION } from '../version.js';

/**
 * The primary's side of its link to one child process (the mirror of child/primary-link.ts):
 * every message to the child goes through `send` / `call`, every message from it is checked by
 * the protocol decoders before a handler sees it, and the call/reply table lives here. A write
 * to a child that has died (EPIPE, a closed channel) never throws and never reaches an 'error'
 * event without a listener: the child is treated as gone at once (its pending calls fail, it is
 * killed), and the supervisor learns of it through the one 'exit' that follows.
 */

/** What the primary needs of a forked process; `forkProcess` adapts node's ChildProcess, tests pass fakes. */
export interface ChildProcessLike {
  readonly pid: number | undefined;
  /** The IPC channel is open. */
  readonly connected: boolean;
  /** Write one message; `done` gets the write's error (the channel closed, EPIPE) instead of an 'error' event. May also throw synchronously. */
  send(message: PrimaryMessage, done: (err: Error | null) => void, handle?: ConnectionHandle): void;
  kill(signal: NodeJS.Signals): void;
  /** Attach the listeners (once, right after the fork). */
  listen(on: ProcessEvents): void;
}

/** What a forked process reports. `exit` may be missing after an `error` of a process that never ran. */
export interface ProcessEvents {
  /** `handle`: what node:child_process passed along (a connection, with `hand-off`). */
  message(raw: unknown, handle?: unknown): void;
  /** node's own acknowledgement of a handle this side sent (`received` false: it arrived without its descriptor). */
  handleAck?(received: boolean): void;
  error(err: Error): void;
  disconnect(): void;
  exit(code: number | null, signal: NodeJS.Signals | null): void;
}

/** What to fork: the entry module and the descriptors handed over from fd 4 on. */
export interface ForkRequest {
  readonly entry: string;
  readonly fds: readonly number[];
}

/** How the supervisor starts a process (injected, so it is unit-tested with fake children). */
export type ForkChild = (request: ForkRequest) => ChildProcessLike;

/** node:child_process.fork, with stdio inherited, fd 3 the IPC channel, then `fds`. */
export const forkProcess: ForkChild = (request) => {
  const proc = fork(request.entry, [], { stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...request.fds] });
  return {
    get pid() { return proc.pid; },
    get connected() { return proc.connected; },
    // node sends libuv handles as they are; its typings only know sockets and servers.
    send: (message, done, handle) => { if (handle === undefined) proc.send(message, done); else proc.send(message, handle as unknown as Socket, {}, done); },
    kill: (signal) => { proc.kill(signal); },
    listen: (on) => {
      proc.on('message', on.message);
      // node acknowledges every handle it receives (NODE_HANDLE_ACK, or NACK when the descriptor was
      // lost on the way) before the message reaches the child's code; it is the only sign that a
      // connection reached the child, so the primary holds its copy until then (see ChildLink.sendConnection).
      proc.on('internalMessage', (msg: unknown) => {
        const cmd = msg !== null && typeof msg === 'object' ? (msg as { cmd?: unknown }).cmd : undefined;
        if (cmd === 'NODE_HANDLE_ACK' || cmd === 'NODE_HANDLE_NACK') on.handleAck?.(cmd === 'NODE_HANDLE_ACK');
      });
      proc.on('error', on.error);
      proc.on('disconnect', on.disconnect);
      proc.once('exit', on.exit);
    },
  };
};

/** A process that never ran (fork threw): it reports `err` on the next tick, as node does for a failed spawn. */
export function deadProcess(err: Error): ChildProcessLike {
  return {
    pid: undefined,
    connected: false,
    send: (_message, done) => { process.nextTick(done, new Error('the process never ran')); },
    kill: () => undefined,
    listen: (on) => { process.nextTick(() => on.error(err)); },
  };
}

/** What the link hands to its owner (the supervisor), each already checked. */
export interface LinkEvents {
  /** The child is loaded and speaks our protocol: the start message to send it. */
  booted(): PrimaryMessage;
  ready(msg: ReadyMessage): void;
  /** Start-up failed: reported by the child, or refused here (another protocol version). */
  failed(error: ActorrtError): void;
  escalated(msg: EscalateMessage): void;
  alive(msg: AliveMessage): void;
  supervised(msg: SupervisionMessage): void;
  resource(msg: ResourceMessage): void;
  invalidate(msg: InvalidateMessage): void;
  /** A draining child's last counts (metrics). */
  finalMetrics(msg: FinalMetricsMessage): void;
  /** A front worker asks for the instance's metrics (`http.metricsPath`). */
  scrape(msg: ScrapeMessage): void;
  /** A front worker sent a connection past its share, to be given to the worker holding fewest. */
  handOff(handle: ConnectionHandle): void;
  /** A connection sent with sendConnection that never reached the child (it died or its channel broke first): to be given to another. */
  returned(handle: ConnectionHandle): void;
  /**
   * The process is gone; called exactly once, after every pending call has failed. `unstarted`:
   * it never ran, because the fork itself failed (EMFILE, EAGAIN: the primary's own shortage).
   */
  exit(code: number | null, signal: NodeJS.Signals | null, unstarted?: Error): void;
}

/**
 * A call failed because the child is gone (exited, its channel closed, a write failed), not
 * because it refused or was slow: a broadcast does not count it as a failure to apply (the
 * child's restart starts from the topology in force).
 */
export class ChildGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChildGoneError';
  }
}

interface PendingCall {
  resolve(msg: ReplyMessage): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class ChildLink {
  private readonly calls = new Map<number, PendingCall>();
  private nextCall = 1;
  /** False once the channel is known to be unusable (closed, a failed write, exited). */
  private open = true;
  private exited = false;
  /** Killed because a write failed or its process errored: never again (a kill that itself emits 'error', EPERM, would loop). */
  private killedAsLost = false;
  /** Messages dropped for failing their check (an actor can send anything, as often as it likes). */
  private dropped = 0;
  /**
   * Connections sent with sendConnection that the child has not acknowledged yet, oldest first
   * (node sends one handle at a time and queues the next until the ACK). The primary keeps its copy
   * of each until then: one whose child dies first goes to another worker, unread, instead of
   * being held open by a copy nobody serves (the client waited forever) or closed under its request.
   */
  private readonly inFlight: ConnectionHandle[] = [];

  constructor(private readonly proc: ChildProcessLike, readonly name: string, private readonly log: Logger, private readonly on: LinkEvents) {
    proc.listen({
      message: (raw, handle) => this.receive(raw, handle),
      handleAck: (received) => this.acknowledged(received),
      error: (err) => this.failedProcess(err),
      disconnect: () => this.close(new ChildGoneError(`${name}: its IPC channel closed`)),
      exit: (code, signal) => this.exit(code, signal),
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** The channel is open: a send may still fail (the child may have died a moment ago), and is then handled here. */
  get connected(): boolean {
    return this.open && this.proc.connected;
  }

  /** Has the process exited (its 'exit' seen)? */
  get gone(): boolean {
    return this.exited;
  }

  /**
   * Send a message. Returns false when it could not even be written (channel closed); a write
   * that fails later (EPIPE) is handled the same way: the child counts as gone.
   */
  send(message: PrimaryMessage, handle?: ConnectionHandle): boolean {
    if (!this.connected) return false;
    try {
      this.proc.send(message, (err) => { if (err !== null) this.lost(err); }, handle);
      return true;
    } catch (err) {
      this.lost(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  /**
   * Send a connection (an accepted TCP handle) with `message`. The primary closes its copy once the
   * child acknowledged it; until then the connection is also in inFlight, and comes back through
   * `returned` if the child is gone first. Never closed here: node does not close a raw handle it
   * sent (only sockets), so a copy kept by the sender held the connection open after its server
   * closed it, and leaked a descriptor per hand-off.
   */
  sendConnection(message: PrimaryMessage, handle: ConnectionHandle): void {
    this.inFlight.push(handle);
    if (!this.send(message, handle)) this.returnInFlight(); // lost() does nothing once the exit is seen
  }

  /** Send a call (an id is added) and wait for the child's reply; rejects when it does not answer in `timeout` ms, or is gone. */
  call(message: CallMessage, timeout: number): Promise<ReplyMessage> {
    if (!this.connected) return Promise.reject(new ChildGoneError(`${this.name} is not running`));
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        reject(new Error(`${this.name} did not answer within ${timeout} ms`));
      }, timeout);
      this.calls.set(id, { resolve, reject, timer });
      this.send({ ...message, id });
    });
  }

  /** Signal the process; a process already gone is not an error. */
  kill(signal: NodeJS.Signals): void {
    if (this.exited) return;
    try {
      this.proc.kill(signal);
    } catch (err) {
      this.log.debug({ err, child: this.name, signal }, 'could not signal a child (already gone)');
    }
  }

  /** Calls waiting for a reply (the model-based test checks none is left after an exit). */
  get pendingCalls(): number {
    return this.calls.size;
  }

  private receive(raw: unknown, handle?: unknown): void {
    // Nothing a child says counts once it is gone or refused (it is being killed).
    if (this.exited || !this.open) {
      if (isConnectionHandle(handle)) this.on.returned(handle); // a hand-off that arrived after its sender died is still a live connection
      return;
    }
    // The first message decides whether this child speaks our protocol at all, whatever else it carries.
    if (raw !== null && typeof raw === 'object' && (raw as { type?: unknown }).type === 'booted' && protocolOf(raw) !== PROTOCOL_VERSION) {
      this.refuse(protocolOf(raw), (raw as { version?: unknown }).version);
      return;
    }
    let msg: ChildMessage;
    try {
      msg = decodeChildMessage(raw);
    } catch (err) {
      if (isConnectionHandle(handle)) handle.close();
      // A BadField is the child's fault; anything else a decoder bug: neither may take the primary down.
      // The first few are logged, then one line per 1000, so a child cannot flood the primary's log.
      this.dropped++;
      if (worthLogging(this.dropped)) {
        this.log.error({ code: 'ACTORRT_E_BAD_MESSAGE', child: this.name, childPid: this.pid, dropped: this.dropped, err: err instanceof BadField ? err.message : err },
          `dropped a message from ${this.name} that failed its check`);
      }
      return;
    }
    switch (msg.type) {
      case 'booted': this.send(this.on.booted()); break;
      case 'ready': this.on.ready(msg); break;
      case 'startup-failed': this.on.failed(failure(msg)); break;
      case 'escalate': this.on.escalated(msg); break;
      case 'alive': this.on.alive(msg); break;
      case 'supervision': this.on.supervised(msg); break;
      case 'resource': this.on.resource(msg); break;
      case 'invalidate': this.on.invalidate(msg); break;
      case 'final-metrics': this.on.finalMetrics(msg); break;
      case 'scrape': this.on.scrape(msg); break;
      case 'hand-off':
        if (isConnectionHandle(handle)) this.on.handOff(handle);
        break;
      case 'reply': {
        const call = this.calls.get(msg.id);
        if (call === undefined) return; // answered after its deadline
        this.calls.delete(msg.id);
        clearTimeout(call.timer);
        call.resolve(msg);
        break;
      }
    }
  }

  private refuse(protocol: number | undefined, version: unknown): void {
    const theirs = `${typeof version === 'string' ? `actorrt ${version}, ` : ''}protocol ${protocol === undefined ? 'unknown' : String(protocol)}`;
    this.on.failed(new ActorrtError('ACTORRT_E_PROTOCOL_VERSION',
      `${this.name} was refused: it runs ${theirs}; this primary runs actorrt ${VERSION}, protocol ${PROTOCOL_VERSION}`,
      { hint: 'the installed actorrt changed under a running instance: restart it (actorrt stop, then actorrt start) to run the new version' }));
    this.close(new ChildGoneError(`${this.name} was refused (protocol version)`));
    this.kill('SIGKILL');
  }

  /** A write failed: the child is dead or its channel broken; either way it cannot be managed. */
  private lost(err: Error): void {
    if (this.exited) return;
    this.log.debug({ child: this.name, childPid: this.pid, err: err.message }, 'a write to a child failed; treating it as gone');
    this.close(new ChildGoneError(`${this.name}: ${err.message}`));
    if (this.killedAsLost) return;
    this.killedAsLost = true;
    this.kill('SIGKILL');
  }

  /** The ChildProcess emitted 'error': a failed send or kill, or a fork that never ran (then no 'exit' may follow). */
  private failedProcess(err: Error): void {
    if (this.proc.pid === undefined) {
      this.exit(null, null, err);
      return;
    }
    this.lost(err);
  }

  private close(err: Error): void {
    this.open = false;
    for (const call of this.calls.values()) {
      clearTimeout(call.timer);
      call.reject(err);
    }
    this.calls.clear();
    this.returnInFlight();
  }

  /** node's ACK (or NACK) of the oldest connection in flight: it is the child's now (or was lost on the way: ours to place again). */
  private acknowledged(received: boolean): void {
    const handle = this.inFlight.shift();
    if (handle === undefined) return;
    if (received) handle.close();
    else this.on.returned(handle);
  }

  /**
   * The child is gone or unreachable: connections it never acknowledged were never read (node acks
   * before the child's code sees the message), so another worker can serve them whole.
   */
  private returnInFlight(): void {
    for (const handle of this.inFlight.splice(0)) this.on.returned(handle);
  }

  private exit(code: number | null, signal: NodeJS.Signals | null, unstarted?: Error): void {
    if (this.exited) return;
    this.close(new ChildGoneError(`${this.name} exited`));
    this.exited = true;
    this.on.exit(code, signal, unstarted);
  }
}

function failure(msg: StartupFailedMessage): ActorrtError {
  return new ActorrtError(msg.code, msg.message, msg.hint === undefined ? {} : { hint: msg.hint });
}

/**
 * Carry an invalidation to `to` (every other running child of this instance) and resolve once
 * all have dropped the keys: only then is the request that caused it answered. A child that
 * does not answer within `timeout` ms is logged and not waited for; one that is gone has no
 * entries left.
 */
export async function relayInvalidation(inv: Invalidation, to: readonly ChildLink[], timeout: number, log: Logger): Promise<void> {
  const { keys, prefixes, stores } = inv;
  await Promise.all(to.filter((c) => c.connected).map((c) => c.call({ type: 'invalidate', keys, prefixes, ...(stores === undefined ? {} : { stores }) }, timeout)
    .catch((err: unknown) => log.warn({ child: c.name, err: err instanceof Error ? err.message : String(err) }, 'a process did not confirm a cache invalidation'))));
}
