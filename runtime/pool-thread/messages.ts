import type { Config } from '../../config/types.js';
import type { ResourceMessage } from '../protocol/messages.js';

type ResourceChange = Omit<ResourceMessage, 'type'>;
import { SUPERVISION_EVENTS, type SupervisionEvent } from '../protocol/shapes.js';

/**
 * The messages between a front worker and the worker threads of its thread pools
 * (runtime/pool-thread/). Requests and replies, both ways (a front's request to the thread's
 * actors, an actor's ctx.ask to the front), travel as channel frames (runtime/channel/wire.ts) in a
 * Uint8Array: the same encoding and the same checks as a pool process's socket, so an actor sees the
 * same request and its reply crosses the same way in both kinds of isolation. Everything else is
 * one of these plain objects, checked here once on the receiving side (a thread runs user code
 * that could post anything on its parent port).
 */

/** What a thread is started with (its workerData). */
export interface ThreadData {
  /** The topology in force: the thread opens its pool's resources from it and reads pools' timeouts and cache names. */
  readonly config: Config;
  readonly pool: string;
  /** The thread's index in its pool (never reused while the front worker lives). */
  readonly index: number;
}

/** Front worker -> thread. */
export type ToThread =
  | { readonly t: 'ping'; readonly n: number }
  | { readonly t: 'reconfigure'; readonly config: Config }
  | { readonly t: 'stop'; readonly timeout: number }
  | { readonly t: 'cache-done'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly t: 'cache-done'; readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

/** Thread -> front worker. */
export type FromThread =
  | { readonly t: 'ready' }
  | { readonly t: 'failed'; readonly code: string; readonly message: string }
  | { readonly t: 'pong'; readonly n: number }
  | { readonly t: 'supervision'; readonly event: SupervisionEvent; readonly count: number }
  | { readonly t: 'escalate'; readonly reason: string }
  | { readonly t: 'resource'; readonly change: ResourceChange }
  | { readonly t: 'cache'; readonly id: number; readonly name: string; readonly op: CacheOp; readonly key: string; readonly value?: unknown; readonly ttl?: number | string }
  | { readonly t: 'stopped' };

export type CacheOp = 'get' | 'set' | 'delete';

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown): v is string => typeof v === 'string';

/** A message a thread posted, checked; a string says what is wrong with it. */
export function checkFromThread(message: unknown): FromThread | string {
  if (!isObject(message)) return 'not an object';
  const m = message;
  switch (m['t']) {
    case 'ready': return { t: 'ready' };
    case 'stopped': return { t: 'stopped' };
    case 'failed':
      return isText(m['code']) && isText(m['message']) ? { t: 'failed', code: m['code'], message: m['message'] } : 'failed: code or message is not a string';
    case 'pong':
      return isCount(m['n']) ? { t: 'pong', n: m['n'] } : 'pong: n is not a count';
    case 'supervision': {
      const event = m['event'];
      return SUPERVISION_EVENTS.includes(event as SupervisionEvent) && isCount(m['count'])
        ? { t: 'supervision', event: event as SupervisionEvent, count: m['count'] } : 'supervision: unknown event or count';
    }
    case 'escalate':
      return isText(m['reason']) ? { t: 'escalate', reason: m['reason'] } : 'escalate: reason is not a string';
    case 'resource': {
      const c = m['change'];
      if (!isObject(c) || !isText(c['resource']) || typeof c['available'] !== 'boolean' || (c['error'] !== undefined && !isText(c['error']))) {
        return 'resource: change is not { resource, available, error?, originsOut? }';
      }
      const origins = c['originsOut'];
      if (origins !== undefined && !(Array.isArray(origins) && origins.every(isText))) return 'resource: originsOut is not a list of strings';
      return {
        t: 'resource',
        change: { resource: c['resource'], available: c['available'], ...(c['error'] === undefined ? {} : { error: c['error'] }), ...(origins === undefined ? {} : { originsOut: origins as string[] }) },
      };
    }
    case 'cache': {
      const { id, name, op, key, ttl } = m;
      if (!isCount(id) || !isText(name) || !isText(key) || (op !== 'get' && op !== 'set' && op !== 'delete')) return 'cache: id, name, op or key is missing';
      if (ttl !== undefined && typeof ttl !== 'number' && typeof ttl !== 'string') return 'cache: ttl is not a number or a string';
      return { t: 'cache', id, name, op, key, ...(op === 'set' ? { value: m['value'] } : {}), ...(ttl === undefined ? {} : { ttl }) };
    }
    default: return `unknown message type ${JSON.stringify(m['t'])}`;
  }
}

/**
 * A topology the front worker passed to its thread (workerData, reconfigure), checked for what the
 * thread reads of it: the thread's pool with every key InlinePool uses, pools' timeouts, caches and
 * resources by name. The front worker built it from the primary's checked start message, in this
 * process: a shape check, not a second validation.
 */
export function checkConfig(value: unknown, pool: string): Config | string {
  if (!isObject(value) || !isObject(value['pools']) || !isObject(value['caches']) || !isObject(value['resources'])) return 'the topology has no pools, caches or resources';
  const mine = value['pools'][pool];
  if (!isObject(mine) || mine['name'] !== pool || !isText(mine['actor']) || !isCount(mine['size']) || !isCount(mine['timeout']) || !isCount(mine['drainTimeout'])) {
    return `pool "${pool}" is missing or lacks name, actor, size, timeout or drainTimeout`;
  }
  const { mailbox, supervision, resources } = mine;
  if (!isObject(mailbox) || !isCount(mailbox['capacity'])) return `pool "${pool}" has no mailbox.capacity`;
  if (!isObject(supervision) || !isText(supervision['strategy']) || !isCount(supervision['maxRestarts']) || !isCount(supervision['within'])
    || !isObject(supervision['backoff']) || !isCount(supervision['backoff']['min']) || !isCount(supervision['backoff']['max'])) return `pool "${pool}" has no complete supervision`;
  if (!Array.isArray(resources) || !resources.every(isText)) return `pool "${pool}" has no list of resources`;
  for (const other of Object.values(value['pools'])) if (!isObject(other) || !isCount(other['timeout'])) return 'a pool has no timeout';
  return value as unknown as Config;
}

/** What the thread's entry was started with, checked. */
export function checkThreadData(value: unknown): ThreadData | string {
  if (!isObject(value) || !isText(value['pool']) || !isCount(value['index'])) return 'workerData has no pool or index';
  const config = checkConfig(value['config'], value['pool']);
  return typeof config === 'string' ? config : { config, pool: value['pool'], index: value['index'] };
}

/** A message the front worker posted to a thread, checked. */
export function checkToThread(message: unknown, pool: string): ToThread | string {
  if (!isObject(message)) return 'not an object';
  const m = message;
  switch (m['t']) {
    case 'ping': return isCount(m['n']) ? { t: 'ping', n: m['n'] } : 'ping: n is not a count';
    case 'stop': return isCount(m['timeout']) ? { t: 'stop', timeout: m['timeout'] } : 'stop: timeout is not a count';
    case 'reconfigure': {
      const config = checkConfig(m['config'], pool);
      return typeof config === 'string' ? `reconfigure: ${config}` : { t: 'reconfigure', config };
    }
    case 'cache-done': {
      if (!isCount(m['id'])) return 'cache-done: id is not a count';
      if (m['ok'] === true) return { t: 'cache-done', id: m['id'], ok: true, value: m['value'] };
      return m['ok'] === false && isText(m['code']) && isText(m['message'])
        ? { t: 'cache-done', id: m['id'], ok: false, code: m['code'], message: m['message'] } : 'cache-done: neither a value nor an error';
    }
    default: return `unknown message type ${JSON.stringify(m['t'])}`;
  }
}
