import type { ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { Channel } from '../channel/channel.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { withDeadline } from '../deadline.js';
import type { Pool } from './pool.js';

/**
 * A pool whose actors run in other processes, reached over one channel per process. Requests go
 * to the connected process with the fewest in flight; each channel's window is what its process
 * can queue (size x mailbox capacity), so when every process is full the answer is 503, not an
 * unbounded queue here. The set of processes changes live (setEndpoints, as undici's BalancedPool
 * adds and removes upstreams): a removed process gets no new requests and its channel closes once
 * the requests in flight on it are answered.
 */
export class RemotePool implements Pool {
  readonly name: string;
  private channels: Channel[] = [];
  /** Channels to processes no longer listed, open until their requests are answered. */
  private leaving: Channel[] = [];
  private window: number;
  private down: ActorrtError | undefined;
  private next = 0;

  constructor(public config: PoolConfig, endpoints: readonly string[], private readonly log: Logger) {
    this.name = config.name;
    this.window = config.size * config.mailbox.capacity;
    this.setEndpoints(endpoints);
  }

  get available(): boolean {
    return this.down === undefined;
  }

  /** Requests in flight to this pool's processes. */
  get depth(): number {
    let n = 0;
    for (const c of this.channels) n += c.inflight;
    return n;
  }

  /** The supervisor gave up on this pool: answer its requests with POOL_DOWN from now on. */
  markDown(reason: string): void {
    this.down = new ActorrtError('ACTORRT_E_POOL_DOWN', `pool "${this.name}" is down: ${reason}`);
  }

  /** A reload started the pool again: route to its processes once they are listed. */
  markUp(): void {
    this.down = undefined;
  }

  /** New settings (size, mailbox: the window; timeout) apply to the next request. */
  reconfigure(config: PoolConfig): void {
    this.config = config;
    this.window = config.size * config.mailbox.capacity;
  }

  /** Route to exactly these processes from now on; channels to processes no longer listed close once idle. */
  setEndpoints(paths: readonly string[]): void {
    const wanted = new Set(paths);
    const kept = this.channels.filter((c) => wanted.has(c.path));
    for (const c of kept) c.reconnectNow(); // a listed process that restarted is serving again
    const have = new Set(kept.map((c) => c.path));
    for (const path of paths) if (!have.has(path)) kept.push(new Channel(path, this.log));
    // Processes no longer listed keep serving until one listed process is connected (a
    // replacement's channel is still connecting now), then close once their requests are answered.
    const { drainTimeout } = this.config;
    const replaced = kept.length === 0 || kept.some((c) => c.connected) ? Promise.resolve() : Promise.race(kept.map((c) => c.whenConnected()));
    for (const c of this.channels) {
      if (wanted.has(c.path)) continue;
      this.leaving.push(c);
      void withDeadline(replaced, drainTimeout).then(() => c.closeWhenIdle(drainTimeout)).finally(() => { this.leaving = this.leaving.filter((l) => l !== c); });
    }
    this.channels = kept;
    this.next = 0;
  }

  dispatch(req: ActorRequest, timeout: number): Promise<unknown> {
    if (this.down !== undefined) return Promise.reject(this.down);
    // Fewest in flight wins. A replacement listed an instant ago may still be connecting while the
    // process it replaces serves until its peers hang up: send there rather than answer 503 in that gap.
    const best = leastLoaded(this.channels, this.next) ?? leastLoaded(this.leaving, 0);
    this.next = this.channels.length === 0 ? 0 : (this.next + 1) % this.channels.length;
    if (best === undefined) {
      return Promise.reject(new ActorrtError('ACTORRT_E_POOL_DOWN', `no process of pool "${this.name}" is reachable right now`));
    }
    if (best.inflight >= this.window) {
      return Promise.reject(new ActorrtError('ACTORRT_E_MAILBOX_FULL', `every process of pool "${this.name}" is at capacity`));
    }
    return best.request(this.name, req, timeout);
  }

  /** Stop taking requests; channels close once their requests are answered (bounded by `timeout`). */
  async stop(timeout: number): Promise<void> {
    this.down ??= new ActorrtError('ACTORRT_E_POOL_DOWN', `pool "${this.name}" is stopping`);
    await Promise.all(this.channels.map((c) => c.closeWhenIdle(timeout)));
  }
}

/** The connected channel with the fewest requests in flight; the scan starts at `start` so ties spread evenly. */
function leastLoaded(channels: readonly Channel[], start: number): Channel | undefined {
  let best: Channel | undefined;
  const n = channels.length;
  for (let i = 0; i < n; i++) {
    const c = channels[(start + i) % n] as Channel;
    if (c.connected && (best === undefined || c.inflight < best.inflight)) best = c;
  }
  return best;
}
