import type { ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { Channel } from '../channel/channel.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Pool } from './pool.js';

/**
 * A pool whose actors run in other processes, reached over one channel per process. Requests go
 * to the connected process with the fewest in flight; each channel's window is what its process
 * can queue (size x mailbox capacity), so when every process is full the answer is 503, not an
 * unbounded queue here.
 */
export class RemotePool implements Pool {
  readonly name: string;
  private readonly channels: Channel[];
  private readonly window: number;
  private down: ActorrtError | undefined;
  private next = 0;

  constructor(readonly config: PoolConfig, endpoints: readonly string[], log: Logger) {
    this.name = config.name;
    this.channels = endpoints.map((path) => new Channel(path, log));
    this.window = config.size * config.mailbox.capacity;
  }

  get available(): boolean {
    return this.down === undefined;
  }

  /** The supervisor gave up on this pool: answer its requests with POOL_DOWN from now on. */
  markDown(reason: string): void {
    this.down = new ActorrtError('ACTORRT_E_POOL_DOWN', `pool "${this.name}" is down: ${reason}`);
  }

  dispatch(req: ActorRequest, timeout: number): Promise<unknown> {
    if (this.down !== undefined) return Promise.reject(this.down);
    // Fewest in flight wins; the scan starts at a rotating index so ties spread evenly.
    let best: Channel | undefined;
    const n = this.channels.length;
    for (let i = 0; i < n; i++) {
      const c = this.channels[(this.next + i) % n] as Channel;
      if (c.connected && (best === undefined || c.inflight < best.inflight)) best = c;
    }
    this.next = (this.next + 1) % n;
    if (best === undefined) {
      return Promise.reject(new ActorrtError('ACTORRT_E_POOL_DOWN', `no process of pool "${this.name}" is reachable right now`));
    }
    if (best.inflight >= this.window) {
      return Promise.reject(new ActorrtError('ACTORRT_E_MAILBOX_FULL', `every process of pool "${this.name}" is at capacity`));
    }
    return best.request(this.name, req, timeout);
  }

  async stop(): Promise<void> {
    this.down ??= new ActorrtError('ACTORRT_E_POOL_DOWN', `pool "${this.name}" is stopping`);
    for (const c of this.channels) c.close();
  }
}
