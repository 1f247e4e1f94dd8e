import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Config } from '../../config/types.js';
import { loadConfig } from '../../config/validate.js';
import { ERROR_CODES, isErrorCode, type ErrorCode } from '../../runtime/errors.js';
import { BadField, decodeChildMessage, decodeMetrics, decodePrimaryMessage, protocolOf } from '../../runtime/protocol/decode.js';
import type {
  AliveMessage, BootedMessage, ChildMessage, EscalateMessage, FinalMetricsMessage, InvalidatedMessage, InvalidateMessage, LeaveMessage, PoolDownMessage, BusStateMessage, PrimaryMessage, ReadyMessage,
  ProfileMessage, ReconfigureMessage, ReplyMessage, ResourceMessage, ScrapedMessage, ScrapeMessage, ShutdownMessage, StartMessage, StartPoolMessage, StartupFailedMessage,
  StatsMessage, SupervisionMessage,
} from '../../runtime/protocol/messages.js';
import { PROFILE_KINDS, SUPERVISION_EVENTS, type CacheStats, type MetricsSnapshot, type PoolLoad, type StoreStats } from '../../runtime/protocol/shapes.js';
import { DURATION_BUCKETS, FAMILIES } from '../../runtime/protocol/metric-families.js';
import { PROTOCOL_VERSION } from '../../runtime/protocol/version.js';
import { ROOT } from '../helpers.js';

/**
 * The primary <-> child decoders against an independent description of every message (SCHEMAS
 * below, written from messages.ts / shapes.ts, not from decode.ts): every valid message decodes to
 * itself; one field missing, of the wrong type or out of range is a BadField naming that field's
 * path; random mutations give the oracle's message or a BadField at one of the paths the oracle
 * finds wrong, never another throw and never a message with a wrong field.
 */

const BUDGET = { numRuns: 600, interruptAfterTimeLimit: 6000, markInterruptAsFailure: false } as const;

// ---------------------------------------------------------------------------------------------
// The oracle: what each message may hold, as data.

type Schema =
  | { readonly k: 'str' | 'count' | 'nonneg' | 'bool' | 'record' }
  | { readonly k: 'lit'; readonly v: unknown }
  /** A metrics snapshot: checked against the family catalog (metric-families.ts) by `metricsWrong` below. */
  | { readonly k: 'metrics' }
  | { readonly k: 'oneOf'; readonly vs: readonly string[] }
  | { readonly k: 'list' | 'map'; readonly of: Schema }
  /** `open`: the decoder checks these fields and hands the object on as it came. `revive`: { code, message } of an error. */
  | { readonly k: 'obj'; readonly fields: Readonly<Record<string, Field>>; readonly open?: boolean; readonly revive?: boolean };
interface Field { readonly s: Schema; readonly opt?: boolean }

const str: Schema = { k: 'str' };
const count: Schema = { k: 'count' };
const nonneg: Schema = { k: 'nonneg' };
const bool: Schema = { k: 'bool' };
const anyRecord: Schema = { k: 'record' };
const listOf = (of: Schema): Schema => ({ k: 'list', of });
const mapOf = (of: Schema): Schema => ({ k: 'map', of });
const obj = (fields: Record<string, Schema | Field>, extra: { open?: boolean; revive?: boolean } = {}): Schema => ({
  k: 'obj', ...extra, fields: Object.fromEntries(Object.entries(fields).map(([key, f]) => [key, 's' in f ? f : { s: f }])),
});
const opt = (s: Schema): Field => ({ s, opt: true });
const metrics: Schema = { k: 'metrics' };

/** Where a metrics snapshot breaks the catalog: a family children do not report, a series with other labels, a non-finite value, histogram buckets of another count. */
function metricsWrong(v: unknown, path: string): string[] {
  if (!isRecord(v)) return [path];
  const bad: string[] = [];
  for (const [name, series] of Object.entries(v)) {
    const family = FAMILIES.find((f) => f.name === name && f.source === 'child');
    if (family === undefined || !Array.isArray(series)) {
      bad.push(`${path}.${name}`);
      continue;
    }
    series.forEach((x: unknown, i) => {
      const at = `${path}.${name}[${i}]`;
      if (!isRecord(x)) return bad.push(at);
      const labels = x['labels'];
      if (!Array.isArray(labels)) bad.push(`${at}.labels`);
      else {
        labels.forEach((l: unknown, j) => { if (typeof l !== 'string' || l.length > 512) bad.push(`${at}.labels[${j}]`); });
        if (labels.length !== family.labels.length) bad.push(`${at}.labels`);
      }
      if (typeof x['value'] !== 'number' || !Number.isFinite(x['value'])) bad.push(`${at}.value`);
      if (family.type !== 'histogram') return undefined;
      const buckets = x['buckets'];
      if (!Array.isArray(buckets)) return bad.push(`${at}.buckets`);
      buckets.forEach((b: unknown, j) => { if (typeof b !== 'number' || !Number.isSafeInteger(b) || b < 0) bad.push(`${at}.buckets[${j}]`); });
      if (buckets.length !== DURATION_BUCKETS.length + 1) bad.push(`${at}.buckets`);
      return undefined;
    });
  }
  return bad;
}

/** The frame of a topology the decoders check (decode.ts says why only the frame). */
const CONFIG = obj({
  version: { s: { k: 'lit', v: 1 } }, file: str,
  http: obj({ port: count, host: str, limits: anyRecord }, { open: true }),
  resources: mapOf(anyRecord), caches: mapOf(anyRecord),
  pools: mapOf(obj({ name: str, actor: str, size: count }, { open: true })),
  routes: listOf(anyRecord),
}, { open: true });
const ENDPOINTS = mapOf(listOf(str));
const INVALIDATE = { id: count, keys: listOf(str), prefixes: listOf(str), stores: opt(listOf(str)) };

const CHILD_SCHEMAS: Record<ChildMessage['type'], Schema> = {
  alive: obj({ rss: count }),
  'hand-off': obj({}),
  booted: obj({ protocol: count, version: str }),
  ready: obj({ port: count, pools: listOf(str) }),
  'startup-failed': obj({ code: str, message: str, hint: opt(str) }, { revive: true }),
  escalate: obj({ pool: str, reason: str }),
  supervision: obj({ pool: str, event: { s: { k: 'oneOf', vs: SUPERVISION_EVENTS } }, count }),
  resource: obj({ resource: str, available: bool, error: opt(str), originsOut: opt(listOf(str)) }),
  reply: obj({
    id: count, ok: bool,
    error: opt(obj({ code: str, message: str, hint: opt(str) }, { revive: true })),
    loads: opt(listOf(obj({ pool: str, actors: count, depth: count, busy: count, completed: count, inflightSeconds: nonneg, busySeconds: nonneg }))),
    caches: opt(obj({
      stores: listOf(obj({ name: str, kind: { s: { k: 'oneOf', vs: ['memory', 'redis'] } }, errors: count, available: bool, entries: opt(count), bytes: opt(count) })),
      routes: listOf(obj({ route: count, store: str, hits: count, misses: count, stale: count, bypass: count })),
    })),
    metrics: opt(metrics),
    profile: opt(obj({ path: str, bytes: count })),
  }),
  invalidate: obj(INVALIDATE),
  'final-metrics': obj({ metrics }),
  scrape: obj({ id: count, openMetrics: bool }),
};

const PRIMARY_SCHEMAS: Record<PrimaryMessage['type'], Schema> = {
  start: obj({ protocol: count, config: CONFIG, workerIndex: count, listenFd: count, boardSlot: count, endpoints: ENDPOINTS, socket: str, down: mapOf(str) }),
  'start-pool': obj({ protocol: count, config: CONFIG, pool: str, index: count, socket: str, endpoints: ENDPOINTS, down: mapOf(str) }),
  shutdown: obj({ timeout: nonneg, mode: { s: { k: 'oneOf', vs: ['stop', 'retire'] } } }),
  leave: obj({}),
  adopt: obj({}),
  'pool-down': obj({ pool: str, reason: str }),
  bus: obj({ cutOff: bool }),
  reconfigure: obj({ id: count, config: CONFIG, endpoints: ENDPOINTS, down: mapOf(str) }),
  stats: obj({ id: count, metrics: opt(bool) }),
  invalidate: obj(INVALIDATE),
  invalidated: obj({ id: count }),
  scraped: obj({ id: count, contentType: opt(str), body: opt(str), error: opt(str) }),
  profile: obj({ id: count, kind: { s: { k: 'oneOf', vs: PROFILE_KINDS } }, duration: nonneg, path: str, maxRss: opt(count) }),
};

type Verdict = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly paths: readonly string[] };

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every path at which `v` breaks `s` (empty: valid), and what a decoder must return for it. */
function judge(s: Schema, v: unknown, path: string, bad: string[]): unknown {
  switch (s.k) {
    case 'str': if (typeof v !== 'string') bad.push(path); return v;
    case 'count': if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad.push(path); return v;
    case 'nonneg': if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad.push(path); return v;
    case 'bool': if (typeof v !== 'boolean') bad.push(path); return v;
    case 'record': if (!isRecord(v)) bad.push(path); return v;
    case 'lit': if (v !== s.v) bad.push(path); return v;
    case 'metrics': {
      const wrong = metricsWrong(v, path);
      bad.push(...wrong);
      if (wrong.length > 0 || !isRecord(v)) return v;
      // What the decoder hands on: each series with its labels, value and (histograms) buckets only.
      return Object.fromEntries(Object.entries(v).map(([name, series]) => [name, (series as Record<string, unknown>[]).map((x) => ({
        labels: x['labels'], value: x['value'], ...(x['buckets'] === undefined || FAMILIES.find((f) => f.name === name)?.type !== 'histogram' ? {} : { buckets: x['buckets'] }),
      }))]));
    }
    case 'oneOf': if (!s.vs.includes(v as string)) bad.push(path); return v;
    case 'list':
      if (!Array.isArray(v)) {
        bad.push(path);
        return v;
      }
      return v.map((x: unknown, i) => judge(s.of, x, `${path}[${i}]`, bad));
    case 'map': {
      if (!isRecord(v)) {
        bad.push(path);
        return v;
      }
      return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, judge(s.of, x, `${path}.${key}`, bad)]));
    }
    case 'obj': {
      if (!isRecord(v)) {
        bad.push(path);
        return v;
      }
      const out: Record<string, unknown> = {};
      for (const [key, f] of Object.entries(s.fields)) {
        if (f.opt === true && v[key] === undefined) continue;
        out[key] = judge(f.s, v[key], `${path}.${key}`, bad);
      }
      if (s.open === true) return v;
      if (s.revive === true && typeof out['code'] === 'string' && !isErrorCode(out['code'])) {
        out['message'] = `${out['code']}: ${String(out['message'])}`;
        out['code'] = 'ACTORRT_E_INTERNAL';
      }
      return out;
    }
  }
}

function oracle(schemas: Readonly<Record<string, Schema>>, raw: unknown): Verdict {
  if (!isRecord(raw)) return { ok: false, paths: ['message'] };
  const type = raw['type'];
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) return { ok: false, paths: ['message.type'] };
  const bad: string[] = [];
  const value = judge(schemas[type] as Schema, raw, type, bad);
  return bad.length === 0 ? { ok: true, value: { type, ...(value as object) } } : { ok: false, paths: bad };
}

type Decode = (raw: unknown) => unknown;

/** The decoder agrees with the oracle: the same message, or a BadField naming one of the paths it found wrong. */
function agrees(decode: Decode, schemas: Readonly<Record<string, Schema>>, raw: unknown): void {
  const verdict = oracle(schemas, raw);
  let decoded: unknown;
  try {
    decoded = decode(raw);
  } catch (err) {
    if (!(err instanceof BadField)) throw new Error(`not a BadField for ${show(raw)}: ${String(err)}`, { cause: err });
    assert.equal(verdict.ok, false, `rejected a valid message (${err.message}): ${show(raw)}`);
    if (!verdict.ok) assert.ok(verdict.paths.includes(err.path), `BadField at ${err.path}, the oracle found ${verdict.paths.join(', ')} wrong: ${show(raw)}`);
    assert.ok(err.message.startsWith(`${err.path}: expected `), `the message names the path: ${err.message}`);
    return;
  }
  assert.ok(verdict.ok, `accepted a message wrong at ${verdict.ok ? '' : verdict.paths.join(', ')}: ${show(raw)}`);
  assert.deepStrictEqual(decoded, verdict.value);
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (x === undefined ? '(undefined)' : typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)).slice(0, 600);
  } catch {
    return String(v);
  }
}

/** What node's IPC channel does to a message (serialization 'json'). */
function wire<T>(message: T): T {
  return JSON.parse(JSON.stringify(message)) as T;
}

// ---------------------------------------------------------------------------------------------
// Valid messages, built from the types.

const CONFIGS: readonly Config[] = ['isolated.yml', 'actorrt.yml'].map((f) => loadConfig(join(ROOT, 'test', 'fixtures', 'runtime', f)));
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];
/** Map keys as the primary writes them (pool names); `__proto__` has a test of its own below. */
const key = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== '__proto__');
const text = fc.string({ maxLength: 20 });
const texts = fc.array(text, { maxLength: 4 });
const nat = fc.maxSafeNat();
const config = fc.constantFrom(...CONFIGS);
const endpoints = fc.dictionary(key, texts, { maxKeys: 3, noNullPrototype: true });
const down = fc.dictionary(key, text, { maxKeys: 3, noNullPrototype: true });
const code = fc.constantFrom(...CODES);

const load: fc.Arbitrary<PoolLoad> = fc.record({
  pool: text, actors: nat, depth: nat, busy: nat, completed: nat,
  inflightSeconds: fc.double({ min: 0, max: 1e12, noNaN: true }), busySeconds: fc.double({ min: 0, max: 1e12, noNaN: true }),
});
/** A valid snapshot: some child families of the catalog, each with series of the right shape. */
const snapshot: fc.Arbitrary<MetricsSnapshot> = fc.subarray(FAMILIES.filter((f) => f.source === 'child'), { maxLength: 4 }).chain((families) => fc.record(
  Object.fromEntries(families.map((f) => [f.name, fc.array(fc.record({
    labels: fc.tuple(...f.labels.map(() => text)),
    value: fc.double({ min: 0, max: 1e12, noNaN: true }),
    ...(f.type === 'histogram' ? { buckets: fc.array(fc.nat(), { minLength: DURATION_BUCKETS.length + 1, maxLength: DURATION_BUCKETS.length + 1 }) } : {}),
  }), { maxLength: 3 })])),
));
const store: fc.Arbitrary<StoreStats> = fc.record({
  name: text, kind: fc.constantFrom('memory' as const, 'redis' as const), entries: nat, bytes: nat, errors: nat, available: fc.boolean(),
}, { requiredKeys: ['name', 'kind', 'errors', 'available'] });
const caches: fc.Arbitrary<CacheStats> = fc.record({
  stores: fc.array(store, { maxLength: 3 }),
  routes: fc.array(fc.record({ route: nat, store: text, hits: nat, misses: nat, stale: nat, bypass: nat }), { maxLength: 3 }),
});
const invalidate: fc.Arbitrary<InvalidateMessage> = fc.record({
  type: fc.constant('invalidate' as const), id: nat, keys: texts, prefixes: texts, stores: texts,
}, { requiredKeys: ['type', 'id', 'keys', 'prefixes'] });

const CHILD: { readonly [T in ChildMessage['type']]: fc.Arbitrary<Extract<ChildMessage, { type: T }>> } = {
  alive: fc.record({ type: fc.constant('alive' as const), rss: nat }) satisfies fc.Arbitrary<AliveMessage>,
  'hand-off': fc.record({ type: fc.constant('hand-off' as const) }),
  booted: fc.record({ type: fc.constant('booted' as const), protocol: nat, version: text }) satisfies fc.Arbitrary<BootedMessage>,
  ready: fc.record({ type: fc.constant('ready' as const), port: fc.integer({ min: 0, max: 65535 }), pools: texts }) satisfies fc.Arbitrary<ReadyMessage>,
  'startup-failed': fc.record({ type: fc.constant('startup-failed' as const), code, message: text, hint: text },
    { requiredKeys: ['type', 'code', 'message'] }) satisfies fc.Arbitrary<StartupFailedMessage>,
  escalate: fc.record({ type: fc.constant('escalate' as const), pool: text, reason: text }) satisfies fc.Arbitrary<EscalateMessage>,
  supervision: fc.record({ type: fc.constant('supervision' as const), pool: text, event: fc.constantFrom(...SUPERVISION_EVENTS), count: nat }) satisfies fc.Arbitrary<SupervisionMessage>,
  resource: fc.record({ type: fc.constant('resource' as const), resource: text, available: fc.boolean(), error: text, originsOut: texts },
    { requiredKeys: ['type', 'resource', 'available'] }) satisfies fc.Arbitrary<ResourceMessage>,
  reply: fc.record({
    type: fc.constant('reply' as const), id: nat, ok: fc.boolean(), error: fc.record({ code, message: text, hint: text }, { requiredKeys: ['code', 'message'] }), loads: fc.array(load, { maxLength: 3 }), caches,
    metrics: snapshot, profile: fc.record({ path: text, bytes: nat }),
  }, { requiredKeys: ['type', 'id', 'ok'] }) satisfies fc.Arbitrary<ReplyMessage>,
  invalidate,
  'final-metrics': fc.record({ type: fc.constant('final-metrics' as const), metrics: snapshot }) satisfies fc.Arbitrary<FinalMetricsMessage>,
  scrape: fc.record({ type: fc.constant('scrape' as const), id: nat, openMetrics: fc.boolean() }) satisfies fc.Arbitrary<ScrapeMessage>,
};

const PRIMARY: { readonly [T in PrimaryMessage['type']]: fc.Arbitrary<Extract<PrimaryMessage, { type: T }>> } = {
  start: fc.record({
    type: fc.constant('start' as const), protocol: nat, config, workerIndex: nat, listenFd: nat, boardSlot: nat, endpoints, socket: text, down,
  }) satisfies fc.Arbitrary<StartMessage>,
  'start-pool': fc.record({
    type: fc.constant('start-pool' as const), protocol: nat, config, pool: text, index: nat, socket: text, endpoints, down,
  }) satisfies fc.Arbitrary<StartPoolMessage>,
  shutdown: fc.record({
    type: fc.constant('shutdown' as const), timeout: fc.double({ min: 0, max: 1e9, noNaN: true }), mode: fc.constantFrom('stop' as const, 'retire' as const),
  }) satisfies fc.Arbitrary<ShutdownMessage>,
  leave: fc.record({ type: fc.constant('leave' as const) }) satisfies fc.Arbitrary<LeaveMessage>,
  adopt: fc.record({ type: fc.constant('adopt' as const) }),
  'pool-down': fc.record({ type: fc.constant('pool-down' as const), pool: text, reason: text }) satisfies fc.Arbitrary<PoolDownMessage>,
  bus: fc.record({ type: fc.constant('bus' as const), cutOff: fc.boolean() }) satisfies fc.Arbitrary<BusStateMessage>,
  reconfigure: fc.record({ type: fc.constant('reconfigure' as const), id: nat, config, endpoints, down }) satisfies fc.Arbitrary<ReconfigureMessage>,
  stats: fc.record({ type: fc.constant('stats' as const), id: nat, metrics: fc.boolean() }, { requiredKeys: ['type', 'id'] }) satisfies fc.Arbitrary<StatsMessage>,
  invalidate,
  invalidated: fc.record({ type: fc.constant('invalidated' as const), id: nat }) satisfies fc.Arbitrary<InvalidatedMessage>,
  scraped: fc.record({ type: fc.constant('scraped' as const), id: nat, contentType: text, body: text, error: text }, { requiredKeys: ['type', 'id'] }) satisfies fc.Arbitrary<ScrapedMessage>,
  profile: fc.record({
    type: fc.constant('profile' as const), id: nat, kind: fc.constantFrom(...PROFILE_KINDS), duration: fc.double({ min: 0, max: 1e9, noNaN: true }), path: text, maxRss: nat,
  }, { requiredKeys: ['type', 'id', 'kind', 'duration', 'path'] }) satisfies fc.Arbitrary<ProfileMessage>,
};

const anyChild = fc.oneof(...Object.values(CHILD)) as fc.Arbitrary<ChildMessage>;
const anyPrimary = fc.oneof(...Object.values(PRIMARY)) as fc.Arbitrary<PrimaryMessage>;

const FULL_METRICS: MetricsSnapshot = {
  actorrt_http_requests_total: [{ labels: ['GET', '/users/:id', '200', 'api'], value: 3 }],
  http_server_request_duration_seconds: [{ labels: ['GET', '/users/:id', '200', 'api'], value: 0.5, buckets: DURATION_BUCKETS.map(() => 0).concat([3]) }],
  actorrt_process_cpu_seconds_total: [{ labels: [], value: 1.25 }],
};

/** One message of each type with every optional field present and every list and map non-empty (so every path exists). */
const FULL_CHILD: readonly ChildMessage[] = [
  { type: 'alive', rss: 123456 },
  { type: 'booted', protocol: PROTOCOL_VERSION, version: '0.1.0' },
  { type: 'ready', port: 8080, pools: ['api', 'thumbs'] },
  { type: 'startup-failed', code: 'ACTORRT_E_ACTOR_INIT', message: 'init threw', hint: 'fix init' },
  { type: 'escalate', pool: 'api', reason: 'too many restarts' },
  { type: 'supervision', pool: 'api', event: 'actor-restart', count: 2 },
  { type: 'resource', resource: 'db', available: false, error: 'ECONNREFUSED', originsOut: ['http://a:1'] },
  {
    type: 'reply', id: 7, ok: false, error: { code: 'ACTORRT_E_CONFIG_INVALID', message: 'no', hint: 'fix it' }, loads: [{ pool: 'api', actors: 4, depth: 1, busy: 1, completed: 12, inflightSeconds: 0.5, busySeconds: 0.25 }],
    caches: {
      stores: [{ name: 'mem', kind: 'memory', entries: 3, bytes: 300, errors: 0, available: true }],
      routes: [{ route: 0, store: 'mem', hits: 1, misses: 2, stale: 3, bypass: 4 }],
    },
    metrics: FULL_METRICS,
    profile: { path: '/tmp/p.cpuprofile', bytes: 1234 },
  },
  { type: 'final-metrics', metrics: FULL_METRICS },
  { type: 'scrape', id: 4, openMetrics: true },
  { type: 'hand-off' },
  { type: 'invalidate', id: 3, keys: ['k'], prefixes: ['p:'], stores: ['mem'] },
];
const FULL_PRIMARY: readonly PrimaryMessage[] = [
  {
    type: 'start', protocol: PROTOCOL_VERSION, config: CONFIGS[0] as Config, workerIndex: 1, listenFd: 4, boardSlot: 1, endpoints: { cpu: ['/run/cpu.0.sock'] },
    socket: '/run/~front.1.sock', down: { broken: 'gave up' },
  },
  {
    type: 'start-pool', protocol: PROTOCOL_VERSION, config: CONFIGS[0] as Config, pool: 'cpu', index: 0, socket: '/run/cpu.0.sock',
    endpoints: { cpu: ['/run/cpu.0.sock'] }, down: { broken: 'gave up' },
  },
  { type: 'shutdown', timeout: 5000, mode: 'retire' },
  { type: 'pool-down', pool: 'broken', reason: 'gave up' },
  { type: 'reconfigure', id: 9, config: CONFIGS[0] as Config, endpoints: { cpu: ['/run/cpu.0.sock'] }, down: { broken: 'gave up' } },
  { type: 'stats', id: 10, metrics: true },
  { type: 'invalidate', id: 11, keys: ['k'], prefixes: ['p:'], stores: ['mem'] },
  { type: 'invalidated', id: 12 },
  { type: 'scraped', id: 13, contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'x 1\n', error: 'none' },
  { type: 'profile', id: 14, kind: 'heap-snapshot', duration: 0, path: '/tmp/p.heapsnapshot', maxRss: 134217728 },
  { type: 'bus', cutOff: true },
  { type: 'adopt' },
  { type: 'leave' },
];

// ---------------------------------------------------------------------------------------------
// Where a message can be changed: every field the schema names (present or not), list item, map entry.

type Key = string | number;
/** `field`: named by its type (required unless `opt`); `item` / `entry`: one of a list's items or a map's entries (removing one leaves a valid message). */
interface Site { readonly keys: readonly Key[]; readonly path: string; readonly s: Schema; readonly opt: boolean; readonly kind: 'field' | 'item' | 'entry' }

function sites(schemas: Readonly<Record<string, Schema>>, message: { readonly type: string }): Site[] {
  const out: Site[] = [];
  const walk = (s: Schema, v: unknown, keys: readonly Key[], path: string): void => {
    if (s.k === 'obj' && isRecord(v)) {
      for (const [k, f] of Object.entries(s.fields)) {
        out.push({ keys: [...keys, k], path: `${path}.${k}`, s: f.s, opt: f.opt === true, kind: 'field' });
        walk(f.s, v[k], [...keys, k], `${path}.${k}`);
      }
    } else if (s.k === 'list' && Array.isArray(v)) {
      v.forEach((x: unknown, i) => {
        out.push({ keys: [...keys, i], path: `${path}[${i}]`, s: s.of, opt: false, kind: 'item' });
        walk(s.of, x, [...keys, i], `${path}[${i}]`);
      });
    } else if (s.k === 'map' && isRecord(v)) {
      for (const [k, x] of Object.entries(v)) {
        out.push({ keys: [...keys, k], path: `${path}.${k}`, s: s.of, opt: false, kind: 'entry' });
        walk(s.of, x, [...keys, k], `${path}.${k}`);
      }
    }
  };
  const schema = Object.hasOwn(schemas, message.type) ? schemas[message.type] : undefined;
  if (schema !== undefined) walk(schema, message, [], message.type);
  return out;
}

/** A copy of `message` with the value at `keys` set (or deleted when `value` is DELETE). */
const DELETE = Symbol('delete');
function edited(message: unknown, keys: readonly Key[], value: unknown): unknown {
  const copy = structuredClone(message) as Record<Key, unknown>;
  let parent: Record<Key, unknown> = copy;
  for (const k of keys.slice(0, -1)) parent = parent[k] as Record<Key, unknown>;
  const last = keys[keys.length - 1] as Key;
  if (value === DELETE) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    parent[last] = value;
  }
  return copy;
}

function at(message: unknown, keys: readonly Key[]): unknown {
  let v = message;
  for (const k of keys) v = (v as Record<Key, unknown>)[k];
  return v;
}

/** Values each kind of field must refuse: wrong types, and out of range for numbers. */
function wrongValues(s: Schema): unknown[] {
  const common = [null, undefined];
  switch (s.k) {
    case 'str': return [...common, 1, true, [], {}];
    case 'count': return [...common, -1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, '1', true];
    case 'nonneg': return [...common, -1, -0.5, Number.NaN, Number.POSITIVE_INFINITY, '5', false];
    case 'bool': return [...common, 'true', 0, 1];
    case 'record': return [...common, [], 'x', 3];
    case 'lit': return [...common, 2, '1'];
    case 'metrics': return [...common, [], 'x', 1]; // faults inside a snapshot: the test of decodeMetrics below
    case 'oneOf': return [...common, 'other', 1, ''];
    case 'list': return [...common, {}, 'x', 1];
    case 'map': return [...common, [], 'x', 1];
    case 'obj': return [...common, [], 'x', 1];
  }
}

// ---------------------------------------------------------------------------------------------

test('every valid child -> primary message decodes to itself', { timeout: 30_000 }, () => {
  fc.assert(fc.property(anyChild, (msg) => {
    assert.deepStrictEqual(decodeChildMessage(wire(msg)), wire(msg));
  }), BUDGET);
});

test('every valid primary -> child message decodes to itself', { timeout: 30_000 }, () => {
  fc.assert(fc.property(anyPrimary, (msg) => {
    const raw = wire(msg);
    assert.deepStrictEqual(decodePrimaryMessage(raw), raw);
  }), BUDGET);
});

test('the oracle accepts the sample messages (so the tests below start from valid ones)', { timeout: 10_000 }, () => {
  for (const m of FULL_CHILD) assert.deepStrictEqual(oracle(CHILD_SCHEMAS, wire(m)), { ok: true, value: wire(m) });
  for (const m of FULL_PRIMARY) assert.deepStrictEqual(oracle(PRIMARY_SCHEMAS, wire(m)), { ok: true, value: wire(m) });
  assert.deepStrictEqual(FULL_CHILD.map((m) => m.type).sort(), Object.keys(CHILD_SCHEMAS).sort(), 'one sample per child message type');
  assert.deepStrictEqual(FULL_PRIMARY.map((m) => m.type).sort(), Object.keys(PRIMARY_SCHEMAS).sort(), 'one sample per primary message type');
});

for (const [side, decode, schemas, samples] of [
  ['child -> primary', decodeChildMessage, CHILD_SCHEMAS, FULL_CHILD],
  ['primary -> child', decodePrimaryMessage, PRIMARY_SCHEMAS, FULL_PRIMARY],
] as const) {
  test(`${side}: a message that is not an object, or has no known type, is a BadField at message / message.type`, { timeout: 10_000 }, () => {
    for (const raw of [null, undefined, 'booted', 42, true, [], [{ type: 'stats', id: 1 }]]) {
      assert.throws(() => decode(raw), (err: unknown) => err instanceof BadField && err.path === 'message', show(raw));
    }
    for (const raw of [{}, { type: 1 }, { type: null }, { type: 'nope' }, { type: 'toString' }, { type: '__proto__' }, { id: 1 }]) {
      assert.throws(() => decode(raw), (err: unknown) => err instanceof BadField && err.path === 'message.type', show(raw));
    }
  });

  test(`${side}: each field missing, of the wrong type or out of range is a BadField naming its path`, { timeout: 20_000 }, () => {
    let checked = 0;
    for (const sample of samples) {
      const valid = wire(sample);
      for (const site of sites(schemas, valid)) {
        const missing = edited(valid, site.keys, DELETE);
        if (site.opt || site.kind !== 'field') {
          assert.deepStrictEqual(decode(missing), oracleValue(schemas, missing), `without ${site.path}`);
        } else {
          assert.throws(() => decode(missing), (err: unknown) => err instanceof BadField && err.path === site.path,
            `without ${site.path}: ${show(missing)}`);
        }
        for (const wrong of wrongValues(site.s)) {
          const raw = edited(valid, site.keys, wrong);
          if (site.opt && wrong === undefined) continue; // absent
          assert.throws(() => decode(raw), (err: unknown) => err instanceof BadField && err.path === site.path && err.message.startsWith(`${site.path}: expected `),
            `${site.path} = ${show(wrong)}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 100, `checked ${checked} faults`);
  });

  test(`${side}: random mutations of valid messages yield the oracle's message or a BadField at a path it finds wrong, nothing else`, { timeout: 30_000 }, () => {
    const arb = side === 'child -> primary' ? anyChild : anyPrimary;
    const junk = fc.oneof(
      fc.constantFrom<unknown>(null, undefined, -1, 0, 1.5, 2 ** 53, Number.NaN, '', 'x', true, false, [], {}, ['x'], { a: 1 }, 'ACTORRT_E_NOPE', 'memory', 'retire', 'actor-stop'),
      fc.jsonValue({ maxDepth: 2 }),
      fc.string({ maxLength: 5 }),
      fc.integer(),
    );
    const mutation = fc.record({
      pick: fc.nat(), op: fc.constantFrom('delete' as const, 'set' as const, 'extra' as const, 'type' as const), value: junk,
      extraKey: fc.constantFrom('zz', 'extra', 'type', 'id'), type: fc.constantFrom(...Object.keys(schemas), 'nope'),
    });
    fc.assert(fc.property(arb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (msg, mutations) => {
      let raw: unknown = wire(msg);
      for (const m of mutations) {
        if (!isRecord(raw)) break;
        if (m.op === 'type') {
          raw = { ...raw, type: m.type };
          continue;
        }
        const all = sites(schemas, raw as { type: string });
        const site = all[m.pick % Math.max(all.length, 1)];
        if (site === undefined) continue;
        if (m.op === 'delete') raw = edited(raw, site.keys, DELETE);
        else if (m.op === 'set') raw = edited(raw, site.keys, m.value);
        else if (isRecord(at(raw, site.keys))) raw = edited(raw, [...site.keys, m.extraKey], m.value);
      }
      agrees(decode, schemas, raw);
    }), BUDGET);
  });
}

function oracleValue(schemas: Readonly<Record<string, Schema>>, raw: unknown): unknown {
  const verdict = oracle(schemas, raw);
  assert.ok(verdict.ok, `the oracle rejects ${show(raw)}`);
  return verdict.value;
}

test('unknown error codes are revived as ACTORRT_E_INTERNAL with the foreign code kept in the message; known ones stay', { timeout: 10_000 }, () => {
  for (const foreign of ['ACTORRT_E_FROM_THE_FUTURE', 'ECONNRESET', '', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    const failed = decodeChildMessage({ type: 'startup-failed', code: foreign, message: 'it broke', hint: 'h' });
    assert.deepStrictEqual(failed, { type: 'startup-failed', code: 'ACTORRT_E_INTERNAL', message: `${foreign}: it broke`, hint: 'h' });
    const reply = decodeChildMessage({ type: 'reply', id: 1, ok: false, error: { code: foreign, message: 'no' } });
    assert.deepStrictEqual(reply, { type: 'reply', id: 1, ok: false, error: { code: 'ACTORRT_E_INTERNAL', message: `${foreign}: no` } });
  }
  fc.assert(fc.property(code, text, (known, message) => {
    assert.deepStrictEqual(decodeChildMessage({ type: 'startup-failed', code: known, message }), { type: 'startup-failed', code: known, message });
    assert.deepStrictEqual(decodeChildMessage({ type: 'reply', id: 2, ok: false, error: { code: known, message } }), { type: 'reply', id: 2, ok: false, error: { code: known, message } });
  }), BUDGET);
});

test('protocolOf reads the protocol of any first message, whatever else it carries', { timeout: 10_000 }, () => {
  assert.equal(protocolOf({ type: 'booted', protocol: PROTOCOL_VERSION + 1 }), PROTOCOL_VERSION + 1);
  assert.equal(protocolOf({ type: 'booted', protocol: 1, version: 7, junk: [] }), 1);
  for (const raw of [null, undefined, 3, 'booted', {}, { protocol: '2' }, { protocol: null }]) assert.equal(protocolOf(raw), undefined, show(raw));
});

test('a decoded message carries only the fields its type declares (extra fields from a newer peer are dropped)', { timeout: 10_000 }, () => {
  assert.deepStrictEqual(decodeChildMessage({ type: 'alive', rss: 1, cpu: 5 }), { type: 'alive', rss: 1 });
  assert.deepStrictEqual(decodePrimaryMessage({ type: 'stats', id: 4, extra: { a: 1 } }), { type: 'stats', id: 4 });
  assert.deepStrictEqual(decodeChildMessage({ type: 'reply', id: 1, ok: true, loads: [{ pool: 'a', actors: 1, depth: 0, busy: 0, completed: 0, inflightSeconds: 0, busySeconds: 0, more: 1 }] }),
    { type: 'reply', id: 1, ok: true, loads: [{ pool: 'a', actors: 1, depth: 0, busy: 0, completed: 0, inflightSeconds: 0, busySeconds: 0 }] });
});

test('a map key "__proto__" (as JSON.parse produces it) is kept as an entry, never turned into the map\'s prototype',
  { timeout: 10_000 }, () => {
    const raw = JSON.parse(JSON.stringify(FULL_PRIMARY[4]).replace('"down":{', '"down":{"__proto__":"gone",').replace('"endpoints":{', '"endpoints":{"__proto__":["/s"],')) as unknown;
    const decoded = decodePrimaryMessage(raw) as ReconfigureMessage;
    assert.equal(Object.getPrototypeOf(decoded.endpoints), Object.prototype);
    assert.deepStrictEqual(Object.keys(decoded.down).sort(), ['__proto__', 'broken']);
    assert.deepStrictEqual(Object.keys(decoded.endpoints).sort(), ['__proto__', 'cpu']);
  });

test('a metrics snapshot holds only catalog families a child reports, with their labels, finite values and every bucket', () => {
  const faults: ReadonlyArray<readonly [unknown, string]> = [
    [{ no_such_family: [] }, 'm.no_such_family'],
    [{ actorrt_pool_size: [] }, 'm.actorrt_pool_size'], // a primary family: a child may not report it
    [{ actorrt_process_cpu_seconds_total: [{ labels: ['extra'], value: 1 }] }, 'm.actorrt_process_cpu_seconds_total[0].labels'],
    [{ actorrt_pool_timeouts_total: [{ labels: [7], value: 1 }] }, 'm.actorrt_pool_timeouts_total[0].labels[0]'],
    [{ actorrt_pool_timeouts_total: [{ labels: ['x'.repeat(513)], value: 1 }] }, 'm.actorrt_pool_timeouts_total[0].labels[0]'],
    [{ actorrt_pool_timeouts_total: [{ labels: ['api'], value: Number.NaN }] }, 'm.actorrt_pool_timeouts_total[0].value'],
    [{ actorrt_upstream_request_duration_seconds: [{ labels: ['up', '200'], value: 1, buckets: [1, 2] }] }, 'm.actorrt_upstream_request_duration_seconds[0].buckets'],
    [{ actorrt_upstream_request_duration_seconds: [{ labels: ['up', '200'], value: 1 }] }, 'm.actorrt_upstream_request_duration_seconds[0].buckets'],
    [{ actorrt_pool_timeouts_total: Array.from({ length: 10_001 }, () => ({ labels: ['api'], value: 1 })) }, 'm.actorrt_pool_timeouts_total'],
  ];
  for (const [raw, path] of faults) {
    assert.throws(() => decodeMetrics(raw, 'm'), (err: unknown) => err instanceof BadField && err.path === path, `${path}: ${show(raw)}`);
  }
  assert.deepStrictEqual(decodeMetrics({ actorrt_pool_timeouts_total: [{ labels: ['api'], value: 2, more: 1 }] }, 'm'), { actorrt_pool_timeouts_total: [{ labels: ['api'], value: 2 }] });
});
