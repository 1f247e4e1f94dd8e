import { start as startActorSystem } from 'nact';
import { serveEndpoint, type Endpoint } from '../channel/endpoint.js';
import { createLogger } from '../logger.js';
import { EXIT_ESCALATE, isPrimaryMessage, type StartPoolMessage } from '../protocol.js';
import { buildPools, closePools, exitOnUnhandled, markDown, reportStartupFailure, send } from '../process-role.js';
import type { Pool } from './pool.js';

/**
 * An isolated pool process: runs `size` actors of one pool, in its own OS process so CPU-heavy
 * work cannot stall the front workers, and serves them on a Unix socket to every peer.
 */
const log = createLogger('pool');
let pools = new Map<string, Pool>();
let endpoint: Endpoint | undefined;
let stopping = false;
let exitCode = 0;

async function boot(msg: StartPoolMessage): Promise<void> {
  const local = msg.config.pools[msg.pool];
  if (local === undefined) throw new Error(`actorrt bug: pool ${msg.pool} is not in the topology`);
  pools = await buildPools(msg.config, [local], msg.endpoints, log.child({ pool: msg.pool, index: msg.index }), startActorSystem(), (pool, reason) => {
    send({ type: 'escalate', pool, reason });
    exitCode = EXIT_ESCALATE;
    void shutdown(5000);
  });
  for (const [name, reason] of Object.entries(msg.down)) markDown(pools, name, reason);
  endpoint = await serveEndpoint(msg.socket, new Map([[msg.pool, pools.get(msg.pool) as Pool]]), log);
  log.info({ pool: msg.pool, index: msg.index, socket: msg.socket }, 'pool process ready');
  send({ type: 'ready', port: 0, pools: [msg.pool] });
}

async function shutdown(timeout: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Drain first (replies still go out), then flush and close the peers' connections.
  await closePools(pools, timeout);
  await endpoint?.close();
  process.exit(exitCode);
}

process.on('message', (msg: unknown) => {
  if (!isPrimaryMessage(msg)) return;
  if (msg.type === 'start-pool') boot(msg).catch((err: unknown) => reportStartupFailure(log, err));
  else if (msg.type === 'pool-down') markDown(pools, msg.pool, msg.reason);
  else if (msg.type === 'shutdown') void shutdown(msg.timeout);
});
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('disconnect', () => { void shutdown(10_000); });
exitOnUnhandled(log);
send({ type: 'booted' });
