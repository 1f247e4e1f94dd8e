import type { PoolConfig } from '../../config/types.js';
import { createLogger } from '../logger.js';
import { send, sendFinalMetrics, serveRole } from '../child/primary-link.js';
import type { ShutdownMessage, StartPoolMessage } from '../protocol/messages.js';
import { resourcesFor } from '../resources/resources.js';
import { actorHandlers, ChildServices } from '../child/child-services.js';

/**
 * An isolated pool process: runs `size` actors of one pool, in its own OS process so CPU-heavy
 * work cannot stall the front workers, and serves them on a Unix socket to every peer. Its pool is
 * resized and retuned live (reconfigure); the primary replaces the process to change its code or
 * resources.
 */
const log = createLogger('pool');
let actors: ChildServices | undefined;
let exitCode = 0;
let stopping = false;

async function boot(msg: StartPoolMessage): Promise<void> {
  const first = msg.config.pools[msg.pool];
  if (first === undefined) throw new Error(`actorrt bug: pool ${msg.pool} is not in the topology`);
  let mine: PoolConfig = first;
  const plog = log.child({ pool: msg.pool, index: msg.index });
  actors = await ChildServices.open(msg, {
    log: plog,
    resources: resourcesFor(msg.config, [mine], false),
    // A topology without this pool is one whose reload retires this process: keep serving until then.
    local: (config) => {
      mine = config.pools[msg.pool] ?? mine;
      return [mine];
    },
    serves: (name) => name === msg.pool,
    shutdown,
  });
  log.info({ pool: msg.pool, index: msg.index, socket: msg.socket }, 'pool process ready');
  send({ type: 'ready', port: 0, pools: [msg.pool] });
}

async function shutdown(timeout: number, mode: ShutdownMessage['mode'], code = 0): Promise<void> {
  if (code !== 0) exitCode = code; // an escalation during a drain still exits non-zero
  if (stopping) return;
  stopping = true;
  await actors?.close(timeout, mode, Date.now());
  await sendFinalMetrics(handlers.metrics(handlers.loads(), handlers.caches()));
  process.exit(exitCode);
}

const handlers = actorHandlers(() => actors);

serveRole<StartPoolMessage>(log, {
  startType: 'start-pool',
  start: boot,
  reconfigure: async (msg) => {
    if (!stopping) await actors?.reconfigure(msg);
  },
  ...handlers,
  shutdown,
});
