import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../config/validate.js';
import { assertIssue, load, MINIMAL, ROOT } from '../helpers.js';

test('applies every documented default to a minimal topology', () => {
  const config = load(MINIMAL);
  assert.deepEqual(config.http, {
    port: 8080, host: '0.0.0.0', workers: 'auto', shutdownTimeout: 10_000, shutdownDelay: 'auto', balanceConnections: true, watchdog: 10_000,
    limits: { bodyBytes: 1024 * 1024, headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxConnections: 10_000 },
    health: { live: '/healthz', ready: '/readyz' }, trustProxy: false, accessLog: false,
    supervision: { maxRestarts: 5, within: 30_000, backoff: { min: 200, max: 10_000 } },
  });
  const pool = config.pools['api'];
  assert.ok(pool);
  assert.equal(pool.size, 1);
  assert.equal(pool.processes, undefined);
  assert.equal(pool.threads, undefined);
  assert.deepEqual(pool.mailbox, { capacity: 1000, overflow: 'reject' });
  assert.deepEqual(pool.supervision, { strategy: 'one-for-one', maxRestarts: 3, within: 5000, backoff: { min: 100, max: 5000 } });
  assert.deepEqual(config.resources, {});
  assert.deepEqual(config.routes[0]?.match, { path: '/users/:id', methods: ['GET'] });
});

test('converts durations and sizes to milliseconds and bytes', () => {
  const config = load(`version: 1\nhttp:\n  limits: { bodyBytes: 512kb, headersTimeout: 1500, requestTimeout: 1m }\n  shutdownTimeout: 2.5s\npools:\n  api:\n    actor: ./actors/api.ts\n    timeout: 250ms\n    supervision: { within: 1h }\nroutes:\n  - match: { path: /x }\n    pool: api\n    timeout: 3s\n`);
  assert.equal(config.http.limits.bodyBytes, 512 * 1024);
  assert.equal(config.http.limits.headersTimeout, 1500);
  assert.equal(config.http.limits.requestTimeout, 60_000);
  assert.equal(config.http.shutdownTimeout, 2500);
  assert.equal(config.pools['api']?.timeout, 250);
  assert.equal(config.pools['api']?.supervision.within, 3_600_000);
  assert.equal(config.routes[0]?.timeout, 3000);
});

test('returns a deeply frozen config', () => {
  const config = load(MINIMAL);
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.pools['api']?.supervision.backoff));
  assert.throws(() => { (config.http as { port: number }).port = 1; }, TypeError);
});

test('resolves actor and sqlite paths against the topology folder, not the working directory', () => {
  const config = load(`version: 1\nresources:\n  db: { type: sqlite, file: ./data/app.db }\n${MINIMAL.slice('version: 1\n'.length)}`);
  const pool = config.pools['api'];
  assert.ok(pool);
  const dir = dirname(config.file);
  assert.equal(pool.actor, join(dir, 'actors', 'api.ts'));
  assert.deepEqual(config.resources['db'], { type: 'sqlite', file: join(dir, 'data', 'app.db'), readonly: false, wal: true, startup: { retries: 3, delay: 500 } });
});

test('normalizes methods to a list and header condition names to lower case', () => {
  const config = load(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\nroutes:\n  - match: { method: [PUT, DELETE], path: /u/:id, header: { Content-Type: application/json }, query: { v: 2 } }\n    pool: api\n`);
  assert.deepEqual(config.routes[0]?.match, { path: '/u/:id', methods: ['PUT', 'DELETE'], header: { 'content-type': 'application/json' }, query: { v: '2' } });
});

test('interpolates ${env:NAME} and ${env:NAME:-default}, turning a whole-number placeholder into a number', () => {
  const config = load(`version: 1\nhttp:\n  port: \${env:PORT:-8081}\n  host: \${env:HOST}\nresources:\n  pg: { type: postgres, url: "postgres://\${env:PGUSER:-app}@db/\${env:PGDB}" }\n${MINIMAL.slice('version: 1\n'.length)}`,
    undefined, { HOST: '127.0.0.1', PGDB: 'shop' });
  assert.equal(config.http.port, 8081);
  assert.equal(config.http.host, '127.0.0.1');
  assert.equal(config.resources['pg']?.type === 'postgres' && config.resources['pg'].url, 'postgres://app@db/shop');
});

test('rejects an unset environment variable without default, naming it at its position', () => {
  assertIssue(`version: 1\nhttp:\n  host: \${env:ACTORRT_TEST_UNSET_VAR}\n${MINIMAL.slice('version: 1\n'.length)}`,
    { code: 'ACTORRT_E_CONFIG_ENV', line: 3, col: 9, message: /ACTORRT_TEST_UNSET_VAR is not set/, hint: /:-value/ }, undefined, {});
});

test('checks the interpolated value against the schema', () => {
  assertIssue(`version: 1\nhttp:\n  port: \${env:PORT}\n${MINIMAL.slice('version: 1\n'.length)}`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 9, message: /<= 65535/ }, undefined, { PORT: '123456' });
});

test('loads every example topology shipped in examples/', () => {
  const out = execFileSync('find', [join(ROOT, 'examples'), '-name', 'actorrt.yml'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  assert.ok(out.length > 0, 'at least one example');
  for (const file of out) assert.doesNotThrow(() => loadConfig(file, { ...process.env, DATABASE_URL: 'postgres://127.0.0.1/test' }), file);
});

test('the shipped schema.json is the one config/schema.mjs generates', () => {
  assert.doesNotThrow(() => execFileSync(process.execPath, [join(ROOT, 'config', 'schema.mjs'), '--check'], { stdio: 'pipe', timeout: 60_000 }));
});

test('caches and route cache policies get their defaults, durations and sizes normalized', () => {
  const config = load(`version: 1
resources:
  redis: { type: redis, url: redis://127.0.0.1:6379 }
caches:
  local: { store: memory, maxBytes: 64mb }
  shared: { store: redis, resource: redis, timeout: 20ms }
pools:
  api: { actor: ./actors/api.ts }
routes:
  - match: { method: GET, path: /u/:id }
    pool: api
    cache: { use: local, key: "u:{header.X-Tenant}:{params.id}", vary: [Accept-Language], staleIfError: 1m }
  - match: { method: GET, path: /v/:id }
    pool: api
    cache: { use: shared, key: "v:{params.id}", ttl: 5s, statuses: [200, 404], allowNoCache: true }
`);
  assert.deepEqual(config.caches['local'], { store: 'memory', maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ttl: 30_000, timeout: 50 });
  assert.deepEqual(config.caches['shared'], { store: 'redis', resource: 'redis', namespace: 'actorrt:shared', ttl: 300_000, timeout: 20 });
  assert.deepEqual(config.routes[0]?.cache, {
    use: 'local', key: 'u:{header.X-Tenant}:{params.id}', freshness: 'origin', staleWhileRevalidate: 0, staleIfError: 60_000, vary: ['accept-language'], statuses: [200], allowNoCache: false,
  });
  assert.deepEqual(config.routes[1]?.cache, { use: 'shared', key: 'v:{params.id}', freshness: 'origin', ttl: 5000, staleWhileRevalidate: 0, staleIfError: 0, vary: [], statuses: [200, 404], allowNoCache: true });
});

test('a route cache may leave out its store when there is one, and its key (method and target, RFC 9111 section 2)', () => {
  const config = load(`version: 1
caches:
  only: { store: memory }
pools:
  api: { actor: ./actors/api.ts }
routes:
  - match: { method: GET, path: /u/:id }
    pool: api
    cache: { freshness: route, ttl: 1s }
`);
  assert.equal(config.routes[0]?.cache?.use, 'only');
  assert.equal(config.routes[0]?.cache?.key, '{method}:{url}');
  assert.equal(config.routes[0]?.cache?.freshness, 'route');
});

test('every key of the schema says what it is for (an editor hover shows it)', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'config', 'schema.json'), 'utf8')) as unknown;
  const missing: string[] = [];
  const visit = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as { properties?: Record<string, unknown>; oneOf?: unknown[]; items?: unknown; additionalProperties?: unknown };
    for (const [key, child] of Object.entries(n.properties ?? {})) {
      const c = child as { description?: string; $ref?: string; const?: unknown };
      if (c.description === undefined && c.const === undefined) missing.push(`${path}.${key}`);
      visit(child, `${path}.${key}`);
    }
    n.oneOf?.forEach((o, i) => visit(o, `${path}[${i}]`));
    visit(n.items, `${path}[]`);
    if (typeof n.additionalProperties === 'object') visit(n.additionalProperties, `${path}.*`);
  };
  visit(schema, '');
  assert.deepEqual(missing, [], 'keys without a description');
});
