import { start as startActorSystem } from 'nact';
import type { PoolConfig } from '../../config/types.js';
import { serveEndpoint, type Endpoint } from '../channel/endpoint.js';
import { createLogger } from '../logger.js';
import { ProcessCaches } from '../cache/process-caches.js';
import { escalateToPrimary, invalidateElsewhere, send, serveRole } from '../primary-link.js';
import type { ShutdownMessage, StartPoolMessage } from '../protocol.js';
import { Resources, resourcesFor } from '../resources/resources.js';
import { PoolHost } from './pool-host.js';

/**
 * An isolated pool process: runs `size` actors of one pool, in its own OS process so CPU-heavy
 * work cannot stall the front workers, and serves them on a Unix socket to every peer. Its pool is
 * resized and retuned live (reconfigure); the primary replaces the process to change its code or
 * resources.
 */
const log = createLogger('pool');
let host: PoolHost | undefined;
let resources: Resources | undefined;
let caches: ProcessCaches | undefined;
let endpoint: Endpoint | undefined;
let exitCode = 0;
let stopping = false;

async function boot(msg: StartPoolMessage): Promise<void> {
  const first = msg.config.pools[msg.pool];
  if (first === undefined) throw new Error(`actorrt bug: pool ${msg.pool} is not in the topology`);
  let mine: PoolConfig = first;
  const plog = log.child({ pool: msg.pool, index: msg.index });
  resources = await Resources.open(msg.config, resourcesFor(msg.config, [mine], false), plog, (change) => send({ type: 'resource', ...change }));
  const cached = new ProcessCaches(msg.config, plog, invalidateElsewhere);
  caches = cached;
  await cached.caches.open();
  const live = new PoolHost({
    log: plog, system: startActorSystem(), resources, caches: cached.forActors,
    // A topology without this pool is one whose reload retires this process: keep serving until then.
    local: (config): PoolConfig[] => {
      mine = config.pools[msg.pool] ?? mine;
      return [mine];
    },
    onSupervision: (pool, event, count) => send({ type: 'supervision', pool, event, count }),
    onEscalate: (pool, reason) => escalateToPrimary(pool, reason, shutdown),
  });
  host = live;
  await live.apply(msg.config, msg.endpoints, msg.down);
  endpoint = await serveEndpoint(msg.socket, (name) => (name === msg.pool ? live.local(name) : undefined), log);
  log.info({ pool: msg.pool, index: msg.index, socket: msg.socket }, 'pool process ready');
  send({ type: 'ready', port: 0, pools: [msg.pool] });
}

async function shutdown(timeout: number, mode: ShutdownMessage['mode'], code = 0): Promise<void> {
  if (code !== 0) exitCode = code; // an escalation during a drain still exits non-zero
  if (stopping) return;
  stopping = true;
  const started = Date.now();
  // Retiring: peers have stopped routing here; serve what they already sent until they hang up.
  if (mode === 'retire') await endpoint?.peersGone(timeout);
  // Drain first (replies still go out), then flush and close the peers' connections.
  await host?.close(Math.max(0, timeout - (Date.now() - started)));
  await endpoint?.close();
  await caches?.caches.close();
  await resources?.close();
  process.exit(exitCode);
}

serveRole<StartPoolMessage>(log, {
  startType: 'start-pool',
  start: boot,
  reconfigure: async (msg) => {
    if (host === undefined || stopping) return;
    await caches?.caches.apply(msg.config);
    const retired = await host.apply(msg.config, msg.endpoints, msg.down);
    host.retire(retired);
  },
  loads: () => host?.loads() ?? [],
  caches: () => caches?.stats() ?? { stores: [], routes: [] },
  invalidate: async (inv) => { await caches?.caches.forget(inv); },
  poolDown: (pool, reason) => host?.markDown(pool, reason),
  shutdown,
});
