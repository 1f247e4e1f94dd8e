import type { Config } from '../../config/types.js';
import { reviveError, type ErrorCode } from '../errors.js';
import { BadField, bool, count, item, list, mapOf, nonNegative, oneOf, optList, optStr, record, str, type Fields } from './check.js';
import type {
  ChildMessage, InvalidateMessage, PrimaryMessage, ReplyMessage, StartupFailedMessage,
} from './messages.js';
import { DURATION_BUCKETS, FAMILY_BY_NAME } from './metric-families.js';
import { PROFILE_KINDS, SUPERVISION_EVENTS, type CacheStats, type MetricSeries, type MetricsSnapshot, type PoolLoad, type StoreStats } from './shapes.js';

/**
 * Decoders for everything that crosses the primary <-> child IPC channel: every field is checked,
 * error codes are revived once here (a code this build does not know becomes ACTORRT_E_INTERNAL
 * with the foreign code kept in the message), and anything else is a BadField naming the path.
 * Callers log a BadField as ACTORRT_E_BAD_MESSAGE and drop the message.
 */

export { BadField };

/** A child -> primary message, checked. Throws BadField. */
export function decodeChildMessage(raw: unknown): ChildMessage {
  const m = record(raw, 'message');
  const type = str(m, 'type', 'message');
  const at = type;
  switch (type) {
    case 'alive': return { type, rss: count(m, 'rss', at) };
    case 'hand-off': return { type };
    case 'booted': return { type, protocol: count(m, 'protocol', at), version: str(m, 'version', at) };
    case 'ready': return { type, port: count(m, 'port', at), pools: list(m, 'pools', at, item.str) };
    case 'startup-failed': {
      const hint = optStr(m, 'hint', at);
      const failed: StartupFailedMessage = { type, ...revived(str(m, 'code', at), str(m, 'message', at)) };
      return hint === undefined ? failed : { ...failed, hint };
    }
    case 'escalate': return { type, pool: str(m, 'pool', at), reason: str(m, 'reason', at) };
    case 'supervision': return { type, pool: str(m, 'pool', at), event: oneOf(m, 'event', SUPERVISION_EVENTS, at), count: count(m, 'count', at) };
    case 'resource': {
      const error = optStr(m, 'error', at);
      const originsOut = optList(m, 'originsOut', at, item.str);
      return {
        type, resource: str(m, 'resource', at), available: bool(m, 'available', at),
        ...(error === undefined ? {} : { error }), ...(originsOut === undefined ? {} : { originsOut }),
      };
    }
    case 'reply': return decodeReply(m);
    case 'invalidate': return decodeInvalidate(m);
    case 'final-metrics': return { type, metrics: decodeMetrics(m['metrics'], `${at}.metrics`) };
    case 'scrape': return { type, id: count(m, 'id', at), openMetrics: bool(m, 'openMetrics', at) };
    default: throw new BadField('message.type', 'a child message type', type);
  }
}

/** A primary -> child message, checked. Throws BadField. */
export function decodePrimaryMessage(raw: unknown): PrimaryMessage {
  const m = record(raw, 'message');
  const type = str(m, 'type', 'message');
  const at = type;
  switch (type) {
    case 'start': return {
      type, protocol: count(m, 'protocol', at), config: decodeConfig(m['config'], `${at}.config`), workerIndex: count(m, 'workerIndex', at),
      listenFd: count(m, 'listenFd', at), boardSlot: count(m, 'boardSlot', at), endpoints: mapOf(m, 'endpoints', at, item.strs), socket: str(m, 'socket', at), down: mapOf(m, 'down', at, item.str),
    };
    case 'start-pool': return {
      type, protocol: count(m, 'protocol', at), config: decodeConfig(m['config'], `${at}.config`), pool: str(m, 'pool', at), index: count(m, 'index', at),
      socket: str(m, 'socket', at), endpoints: mapOf(m, 'endpoints', at, item.strs), down: mapOf(m, 'down', at, item.str),
    };
    case 'shutdown': return { type, timeout: nonNegative(m, 'timeout', at), mode: oneOf(m, 'mode', ['stop', 'retire'] as const, at) };
    case 'leave': return { type };
    case 'adopt': return { type };
    case 'pool-down': return { type, pool: str(m, 'pool', at), reason: str(m, 'reason', at) };
    case 'bus': return { type, cutOff: bool(m, 'cutOff', at) };
    case 'reconfigure': return {
      type, id: count(m, 'id', at), config: decodeConfig(m['config'], `${at}.config`), endpoints: mapOf(m, 'endpoints', at, item.strs), down: mapOf(m, 'down', at, item.str),
    };
    case 'stats': return { type, id: count(m, 'id', at), ...(m['metrics'] === undefined ? {} : { metrics: bool(m, 'metrics', at) }) };
    case 'invalidate': return decodeInvalidate(m);
    case 'invalidated': return { type, id: count(m, 'id', at) };
    case 'scraped': {
      const contentType = optStr(m, 'contentType', at);
      const body = optStr(m, 'body', at);
      const error = optStr(m, 'error', at);
      return {
        type, id: count(m, 'id', at), ...(contentType === undefined ? {} : { contentType }), ...(body === undefined ? {} : { body }), ...(error === undefined ? {} : { error }),
      };
    }
    case 'profile': {
      const maxRss = m['maxRss'] === undefined ? undefined : count(m, 'maxRss', at);
      return {
        type, id: count(m, 'id', at), kind: oneOf(m, 'kind', PROFILE_KINDS, at), duration: nonNegative(m, 'duration', at), path: str(m, 'path', at),
        ...(maxRss === undefined ? {} : { maxRss }),
      };
    }
    default: throw new BadField('message.type', 'a primary message type', type);
  }
}

/** The first message of a child, checked only for what any version must carry to be told apart. */
export function protocolOf(raw: unknown): number | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const p = (raw as Fields)['protocol'];
  return typeof p === 'number' ? p : undefined;
}

/** The code and message of reviveError's error: one rule for every boundary (an unknown code becomes ACTORRT_E_INTERNAL, kept in the message). */
function revived(code: string, message: string): { code: ErrorCode; message: string } {
  const e = reviveError(code, message);
  return { code: e.code, message: e.message };
}

function decodeInvalidate(m: Fields): InvalidateMessage {
  const stores = optList(m, 'stores', 'invalidate', item.str);
  return {
    type: 'invalidate', id: count(m, 'id', 'invalidate'), keys: list(m, 'keys', 'invalidate', item.str), prefixes: list(m, 'prefixes', 'invalidate', item.str),
    ...(stores === undefined ? {} : { stores }),
  };
}

function decodeReply(m: Fields): ReplyMessage {
  const at = 'reply';
  const base = { type: 'reply' as const, id: count(m, 'id', at), ok: bool(m, 'ok', at) };
  const error = m['error'] === undefined ? undefined : record(m['error'], `${at}.error`);
  const hint = error === undefined ? undefined : optStr(error, 'hint', `${at}.error`);
  const loads = optList(m, 'loads', at, decodeLoad);
  const caches = m['caches'] === undefined ? undefined : decodeCacheStats(m['caches'], `${at}.caches`);
  const metrics = m['metrics'] === undefined ? undefined : decodeMetrics(m['metrics'], `${at}.metrics`);
  const profile = m['profile'] === undefined ? undefined : record(m['profile'], `${at}.profile`);
  return {
    ...base,
    ...(error === undefined ? {} : { error: { ...revived(str(error, 'code', `${at}.error`), str(error, 'message', `${at}.error`)), ...(hint === undefined ? {} : { hint }) } }),
    ...(loads === undefined ? {} : { loads }),
    ...(caches === undefined ? {} : { caches }),
    ...(metrics === undefined ? {} : { metrics }),
    ...(profile === undefined ? {} : { profile: { path: str(profile, 'path', `${at}.profile`), bytes: count(profile, 'bytes', `${at}.profile`) } }),
  };
}

/** Series one process may report per family: far above any real topology, low enough that a runaway child cannot flood the primary. */
const MAX_SERIES = 10_000;
/** Longest label value accepted (route patterns, pool, store and upstream names). */
const MAX_LABEL = 512;

/**
 * A child's metric counts: only child families of the catalog, each series with exactly the
 * catalog's labels, finite values, and a histogram's buckets for every bound plus +Inf.
 */
export function decodeMetrics(v: unknown, path: string): MetricsSnapshot {
  const o = record(v, path);
  const out: Record<string, readonly MetricSeries[]> = {};
  for (const [name, raw] of Object.entries(o)) {
    const family = FAMILY_BY_NAME.get(name);
    const at = `${path}.${name}`;
    if (family === undefined || family.source !== 'child') throw new BadField(at, 'a metric family a child reports', name);
    if (!Array.isArray(raw) || raw.length > MAX_SERIES) throw new BadField(at, `an array of at most ${MAX_SERIES} series`, raw);
    out[name] = raw.map((x: unknown, i): MetricSeries => {
      const p = `${at}[${i}]`;
      const s = record(x, p);
      const labels = list(s, 'labels', p, (l, lp) => {
        const value = item.str(l, lp);
        if (value.length > MAX_LABEL) throw new BadField(lp, `a label value of at most ${MAX_LABEL} characters`, value);
        return value;
      });
      if (labels.length !== family.labels.length) throw new BadField(`${p}.labels`, `${family.labels.length} label values (${family.labels.join(', ')})`, labels);
      const value = s['value'];
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new BadField(`${p}.value`, 'a finite number', value);
      if (family.type !== 'histogram') return { labels, value };
      const buckets = list(s, 'buckets', p, (b, bp) => count({ b }, 'b', bp));
      if (buckets.length !== DURATION_BUCKETS.length + 1) throw new BadField(`${p}.buckets`, `${DURATION_BUCKETS.length + 1} bucket counts`, buckets);
      return { labels, value, buckets };
    });
  }
  return out;
}

function decodeLoad(v: unknown, path: string): PoolLoad {
  const o = record(v, path);
  return {
    pool: str(o, 'pool', path), actors: count(o, 'actors', path), depth: count(o, 'depth', path), busy: count(o, 'busy', path),
    completed: count(o, 'completed', path), inflightSeconds: nonNegative(o, 'inflightSeconds', path), busySeconds: nonNegative(o, 'busySeconds', path),
  };
}

function decodeCacheStats(v: unknown, path: string): CacheStats {
  const o = record(v, path);
  return {
    stores: list(o, 'stores', path, (s, p): StoreStats => {
      const x = record(s, p);
      const entries = x['entries'] === undefined ? undefined : count(x, 'entries', p);
      const bytes = x['bytes'] === undefined ? undefined : count(x, 'bytes', p);
      return {
        name: str(x, 'name', p), kind: oneOf(x, 'kind', ['memory', 'redis'] as const, p), errors: count(x, 'errors', p), available: bool(x, 'available', p),
        ...(entries === undefined ? {} : { entries }), ...(bytes === undefined ? {} : { bytes }),
      };
    }),
    routes: list(o, 'routes', path, (r, p) => {
      const x = record(r, p);
      return { route: count(x, 'route', p), store: str(x, 'store', p), hits: count(x, 'hits', p), misses: count(x, 'misses', p), stale: count(x, 'stale', p), bypass: count(x, 'bypass', p) };
    }),
  };
}

/**
 * The topology a start or reconfigure message carries. Only its frame is checked here (the keys
 * every process reads first, and each pool's identity): the whole tree is the primary's own output
 * of config/validate.ts (JSON Schema, cross-references), sent only after both sides proved they
 * speak the same PROTOCOL_VERSION, so checking every nested setting again would repeat the config
 * layer in every child at every start.
 */
function decodeConfig(v: unknown, path: string): Config {
  const o = record(v, path);
  if (o['version'] !== 1) throw new BadField(`${path}.version`, '1', o['version']);
  str(o, 'file', path);
  const http = record(o['http'], `${path}.http`);
  count(http, 'port', `${path}.http`);
  str(http, 'host', `${path}.http`);
  record(http['limits'], `${path}.http.limits`);
  mapOf(o, 'resources', path, record);
  mapOf(o, 'caches', path, record);
  mapOf(o, 'pools', path, (p, at) => {
    const pool = record(p, at);
    return { name: str(pool, 'name', at), actor: str(pool, 'actor', at), size: count(pool, 'size', at) };
  });
  list(o, 'routes', path, record);
  return o as unknown as Config; // its frame is proven above; the rest is the config layer's (see above)
}
