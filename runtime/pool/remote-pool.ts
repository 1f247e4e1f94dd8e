import type { ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { Channel } from '../channel/channel.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { withDeadline } from '../deadline.js';
import { leastLoaded, PoolBase, poolDown } from './pool-base.js';
import { endWith, openSpan, parentOf, SpanKind, tracer } from '../trace/tracing.js';

/**
 * A pool whose actors run in other processes, reached over one channel per process. Requests go
 * to the connected process with the fewest in flight; each channel's window is what its process
 * can queue (size x mailbox capacity), so when every process is full the answer is 503, not an
 * unbounded queue here. The set of processes changes live (setEndpoints, as undici's BalancedPool
 * adds and removes upstreams): a removed process gets no new requests and its channel closes once
 * the requests in flight on it are answered.
 */
export class RemotePool extends PoolBase<Channel> {
  /** Channels to processes no longer listed, open until their requests are answered (not counted in depth). */
  private leaving: Channel[] = [];

  constructor(config: PoolConfig, endpoints: readonly string[], private readonly log: Logger) {
    super(config, connected);
    this.setEndpoints(endpoints);
  }

  /** New settings (size, mailbox: the window; timeout) apply to the next request. */
  reconfigure(config: PoolConfig): void {
    this.configure(config);
  }

  /** Route to exactly these processes from now on; channels to processes no longer listed close once idle. */
  setEndpoints(paths: readonly string[]): void {
    const wanted = new Set(paths);
    const kept = this.members.filter((c) => wanted.has(c.path));
    for (const c of kept) c.reconnectNow(); // a listed process that restarted is serving again
    const have = new Set(kept.map((c) => c.path));
    for (const path of paths) if (!have.has(path)) kept.push(new Channel(path, this.log));
    // Processes no longer listed keep serving until one listed process is connected (a
    // replacement's channel is still connecting now), then close once their requests are answered.
    const { drainTimeout } = this.config;
    const replaced = kept.length === 0 || kept.some((c) => c.connected) ? Promise.resolve() : Promise.race(kept.map((c) => c.whenConnected()));
    for (const c of this.members) {
      if (wanted.has(c.path)) continue;
      this.leaving.push(c);
      void withDeadline(replaced, drainTimeout).then(() => c.closeWhenIdle(drainTimeout)).finally(() => { this.leaving = this.leaving.filter((l) => l !== c); });
    }
    this.members = kept;
    this.restartRotation();
  }

  /**
   * Send `req` to the least-loaded process. `req.trace` is the caller's span; with an OpenTelemetry
   * SDK the hop is a CLIENT span under it, which the pool process's SERVER span is a child of.
   */
  dispatch(req: ActorRequest, timeout: number): Promise<unknown> {
    const channel = this.admit();
    if (channel instanceof ActorrtError) return Promise.reject(channel);
    if (tracer() === undefined) return channel.request(this.name, req, timeout);
    const { trace, span } = openSpan(`dispatch ${this.name}`, SpanKind.CLIENT, parentOf(req.trace),
      { 'actorrt.pool': this.name, 'actorrt.request_id': req.requestId });
    return endWith(span, channel.request(this.name, req, timeout, trace));
  }

  /**
   * Fewest in flight wins. A replacement listed an instant ago may still be connecting while the
   * process it replaces serves until its peers hang up: send there rather than answer 503 in that gap.
   */
  protected override pick(): Channel | undefined {
    return super.pick() ?? leastLoaded(this.leaving, 0, connected);
  }

  /** stop(): channels close once their requests are answered (bounded by `timeout`); leaving ones close on their own. */
  protected async closeMembers(timeout: number): Promise<void> {
    await Promise.all(this.members.map((c) => c.closeWhenIdle(timeout)));
  }

  /** A channel's window: what its process can queue. */
  protected capacityOf(config: PoolConfig): number {
    return config.size * config.mailbox.capacity;
  }

  protected unreachable(): ActorrtError {
    return poolDown(`no process of pool "${this.name}" is reachable right now`);
  }

  protected full(): ActorrtError {
    return new ActorrtError('ACTORRT_E_MAILBOX_FULL', `every process of pool "${this.name}" is at capacity`);
  }
}

function connected(channel: Channel): boolean {
  return channel.connected;
}
