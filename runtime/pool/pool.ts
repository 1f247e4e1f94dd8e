import type { ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';

/** What the front actor and ctx.ask need from a pool, wherever its actors run. */
export interface Pool {
  readonly name: string;
  readonly config: PoolConfig;
  /** False once the pool gave up or is stopping. */
  readonly available: boolean;
  /**
   * Send a request to one of the pool's actors; resolves to what receive() returned. `req.trace` is
   * the span it is sent from: an inline pool's actor runs in it, a remote pool's process opens a
   * span of its own under it.
   */
  dispatch(req: ActorRequest, timeout: number): Promise<unknown>;
  /** Stop taking requests and let what is in flight finish (bounded by `timeout`). */
  stop(timeout: number): Promise<void>;
}
