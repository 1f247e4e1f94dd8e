import { start as startActorSystem } from 'nact';
import { serveEndpoint, type Endpoint } from '../channel/endpoint.js';
import { createLogger } from '../logger.js';
import type { StartPoolMessage } from '../protocol.js';
import { Resources, resourcesFor } from '../resources/resources.js';
import { buildPools, closePools, escalateToPrimary, markDown, send, serveRole } from '../process-role.js';
import type { Pool } from './pool.js';

/**
 * An isolated pool process: runs `size` actors of one pool, in its own OS process so CPU-heavy
 * work cannot stall the front workers, and serves them on a Unix socket to every peer.
 */
const log = createLogger('pool');
let pools = new Map<string, Pool>();
let resources: Resources | undefined;
let endpoint: Endpoint | undefined;
let exitCode = 0;
let stopping = false;

async function boot(msg: StartPoolMessage): Promise<void> {
  const local = msg.config.pools[msg.pool];
  if (local === undefined) throw new Error(`actorrt bug: pool ${msg.pool} is not in the topology`);
  const plog = log.child({ pool: msg.pool, index: msg.index });
  resources = await Resources.open(msg.config, resourcesFor(msg.config, [local], false), plog, (change) => send({ type: 'resource', ...change }));
  pools = await buildPools({
    config: msg.config, local: [local], endpoints: msg.endpoints, log: plog, system: startActorSystem(), resources,
    onEscalate: (pool, reason) => escalateToPrimary(pool, reason, shutdown),
  });
  for (const [name, reason] of Object.entries(msg.down)) markDown(pools, name, reason);
  endpoint = await serveEndpoint(msg.socket, new Map([[msg.pool, pools.get(msg.pool) as Pool]]), log);
  log.info({ pool: msg.pool, index: msg.index, socket: msg.socket }, 'pool process ready');
  send({ type: 'ready', port: 0, pools: [msg.pool] });
}

async function shutdown(timeout: number, code = 0): Promise<void> {
  if (code !== 0) exitCode = code; // an escalation during a drain still exits non-zero
  if (stopping) return;
  stopping = true;
  // Drain first (replies still go out), then flush and close the peers' connections.
  await closePools(pools, timeout);
  await endpoint?.close();
  await resources?.close();
  process.exit(exitCode);
}

serveRole<StartPoolMessage>(log, {
  startType: 'start-pool',
  start: boot,
  poolDown: (pool, reason) => markDown(pools, pool, reason),
  shutdown,
});
