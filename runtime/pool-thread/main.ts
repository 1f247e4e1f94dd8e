import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { start as startActorSystem, stop as stopActorSystem } from 'nact';
import type { ActorCache, ActorRequest } from '../../actors/index.js';
import type { Config, PoolConfig } from '../../config/types.js';
import { ActorrtError, reviveError } from '../errors.js';
import { createLogger } from '../logger.js';
import { loadActor } from '../pool/actor-loader.js';
import { actorContext, type Ask } from '../pool/actor-context.js';
import { InlinePool } from '../pool/inline-pool.js';
import { Resources } from '../resources/resources.js';
import { RequestIds } from '../request-id.js';
import { toReply } from '../reply.js';
import { childTrace } from '../trace/trace-context.js';
import { FrameLink } from './frame-link.js';
import { checkThreadData, checkToThread, type CacheOp, type FromThread, type ThreadData } from './messages.js';

/**
 * A worker thread of a thread pool (`threads:`): `size` actors of one pool on an InlinePool of its
 * own, with its own resources, inside a front worker process. Requests arrive as channel frames on
 * the parent port and are served exactly as a pool process serves its socket; ctx.ask and
 * ctx.caches go to the front worker, which holds the process's pools and caches (so invalidations
 * reach what the thread stores, as they reach the front's own). See thread-pool.ts for the other side.
 */
const port: MessagePort = parentPort ?? fail('the pool thread entry runs outside a worker thread');
const checked = checkThreadData(workerData);
const data: ThreadData = typeof checked === 'string' ? fail(`pool thread started with bad workerData: ${checked}`) : checked;
// Lines name the thread; InlinePool's own lines and ctx.log add the pool (a second `pool` key would repeat it).
const log = createLogger('thread').child({ thread: data.index });
let config: Config = data.config;
const mine = (): PoolConfig => config.pools[data.pool] as PoolConfig;
const post = (message: FromThread): void => port.postMessage(message);

let pool: InlinePool | undefined;
let resources: Resources | undefined;
let system: ReturnType<typeof startActorSystem> | undefined;
const link = new FrameLink((batch, transfer) => port.postMessage(batch, transfer), (name) => (name === data.pool ? pool : undefined), log);
const cacheCalls = new Map<number, { resolve(value: unknown): void; reject(err: ActorrtError): void }>();
let nextCall = 1;
const ids = new RequestIds();

/** ctx.caches: each call is answered by the front worker's own store (memory stores are per process). */
const caches = new Proxy({} as Record<string, ActorCache>, {
  get: (_, name) => (typeof name === 'string' && Object.hasOwn(config.caches, name) ? cacheApi(name) : undefined),
  has: (_, name) => typeof name === 'string' && Object.hasOwn(config.caches, name),
  ownKeys: () => Object.keys(config.caches),
  getOwnPropertyDescriptor: (_, name) => (typeof name === 'string' && Object.hasOwn(config.caches, name)
    ? { value: cacheApi(name), enumerable: true, configurable: true, writable: false } : undefined),
});

function cacheCall(name: string, op: CacheOp, key: string, value?: unknown, ttl?: number | string): Promise<unknown> {
  const id = nextCall++;
  return new Promise((resolve, reject) => {
    try {
      post({ t: 'cache', id, name, op, key, ...(op === 'set' ? { value } : {}), ...(ttl === undefined ? {} : { ttl }) });
    } catch (err) {
      // A function or a class instance with private state cannot cross to the front worker's store (structured clone).
      reject(new ActorrtError('ACTORRT_E_BAD_ARGUMENT', `ctx.caches.${name}.${op}: the value cannot be stored: ${err instanceof Error ? err.message : String(err)}`,
        { hint: 'store JSON-like values (objects, arrays, strings, numbers, booleans, null)' }));
      return;
    }
    cacheCalls.set(id, { resolve, reject });
  });
}

function cacheApi(name: string): ActorCache {
  return Object.freeze({
    get: async <T>(key: string) => (await awaiting(() => cacheCall(name, 'get', key))) as T | undefined,
    set: async (key: string, value: unknown, ttl?: number | string) => { await awaiting(() => cacheCall(name, 'set', key, value, ttl)); },
    delete: async (key: string) => { await awaiting(() => cacheCall(name, 'delete', key)); },
  });
}

/** ctx.ask: to the front worker, which dispatches it to the pool wherever it runs (as its own actors' asks). */
const ask: Ask = async (target, message, options, asker) => {
  const to = config.pools[target];
  if (to === undefined) {
    throw new ActorrtError('ACTORRT_E_UNKNOWN_POOL', `ctx.ask("${target}"): no such pool`, { hint: `declared pools: ${Object.keys(config.pools).join(', ')}` });
  }
  const trace = asker?.trace ?? childTrace(undefined);
  const req: ActorRequest = { method: 'ASK', path: '', params: {}, query: {}, headers: {}, body: message, requestId: ids.next(), ip: '', protocol: 'http', trace };
  return toReply(await awaiting(() => link.request(target, req, options.timeout ?? to.timeout))).body;
};

/**
 * Listening from the start, not once the actors are ready: an actor's init() may ask another pool
 * or use ctx.caches, whose answers arrive here (a port queues messages until a listener is on).
 * Unreferenced until ready unless a call to the front worker is waiting (`awaiting`), so that an
 * init() awaiting what nothing settles still ends the thread at once (the front worker says so)
 * rather than at the start bound, while one awaiting an ask or a cache call gets its answer.
 */
port.on('message', (message: unknown) => {
  if (Array.isArray(message)) {
    const unreadable = link.receive(message);
    if (unreadable !== undefined) log.error({ pool: data.pool, reason: unreadable }, 'malformed frame from the front worker; dropped');
    return;
  }
  const m = checkToThread(message, data.pool);
  if (typeof m === 'string') {
    log.error({ pool: data.pool, reason: m }, 'malformed message from the front worker; dropped');
    return;
  }
  switch (m.t) {
    case 'ping': post({ t: 'pong', n: m.n }); break;
    case 'reconfigure':
      config = m.config;
      pool?.reconfigure(mine()).catch((err: unknown) => log.error({ pool: data.pool, err }, 'reconfiguring the thread\'s actors failed'));
      break;
    case 'cache-done': {
      const call = cacheCalls.get(m.id);
      cacheCalls.delete(m.id);
      if (m.ok) call?.resolve(m.value);
      else call?.reject(reviveError(m.code, m.message));
      break;
    }
    case 'stop':
      void stop(m.timeout);
      break;
  }
});

port.unref();
let ready = false;
let waiting = 0;

/** Run a call to the front worker, keeping the port referenced while it waits (before ready). */
async function awaiting<T>(call: () => Promise<T>): Promise<T> {
  if (waiting++ === 0 && !ready) port.ref();
  try {
    return await call();
  } finally {
    if (--waiting === 0 && !ready) port.unref();
  }
}

async function boot(): Promise<void> {
  const own = mine();
  const opened = await Resources.open(config, own.resources, log, (change) => post({ t: 'resource', change }));
  resources = opened;
  const actor = await loadActor(own.actor);
  system = startActorSystem();
  const bound = opened.clientsFor(own.resources);
  const started = new InlinePool(own, actor, {
    parent: system,
    log,
    contextFor: (index, current) => actorContext({ log, caches, ask, thread: data.index }, data.pool, index, bound, current),
    resourceFailure: (err) => opened.failureOf(err, own.resources),
    onSupervision: (event, count) => post({ t: 'supervision', event, count }),
    onEscalate: (_, reason) => post({ t: 'escalate', reason }),
  });
  await started.start();
  pool = started;
  ready = true;
  port.ref();
  post({ t: 'ready' });
}

let stopping = false;

/** Drain the actors (bounded by `timeout`), close the resources, say so and end the thread. */
async function stop(timeout: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await pool?.stop(timeout);
  await resources?.close();
  if (system !== undefined) stopActorSystem(system);
  post({ t: 'stopped' });
  port.close();
}

boot().catch((err: unknown) => {
  const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_ACTOR_INIT', err instanceof Error ? err.message : String(err));
  post({ t: 'failed', code: e.code, message: e.message });
});

function fail(what: string): never {
  throw new Error(`actorrt bug: ${what}`);
}
