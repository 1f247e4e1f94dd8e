import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertIssue, issuesOf, load } from '../helpers.js';

const POOL = `pools:
  api:
    actor: ./actors/api.ts
`;

test('rejects a route that names an unknown pool, pointing at the name, with a did-you-mean hint', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n    pool: apii\n`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 7, col: 11, hint: /did you mean "api"/, message: /pool "apii"/ });
});

test('lists the declared pools when an unknown pool name is not close to any', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n    pool: zebra\n`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 7, col: 11, hint: /declared: api/ });
});

test('a name every object inherits (toString, constructor, __proto__) is not a declared pool or resource', () => {
  for (const name of ['toString', 'constructor', 'hasOwnProperty']) {
    assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n    pool: ${name}\n`,
      { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 7, col: 11, message: new RegExp(`pool "${name}"`) });
    assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n    proxy: ${name}\n`,
      { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 7, col: 12 });
  }
});

test('rejects a route with neither pool nor proxy', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_TARGET', line: 6, col: 5, message: /neither a pool nor a proxy/ });
});

test('rejects a route with both pool and proxy', () => {
  assertIssue(`version: 1\nresources:\n  up: { type: http, origins: [http://127.0.0.1:9] }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n    proxy: up\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_TARGET', line: 8, col: 5, message: /both/ });
});

test('rejects a proxy route that names an unknown resource', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n    proxy: upstream\n`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 7, col: 12 });
});

test('rejects a proxy route whose resource is not an http upstream', () => {
  assertIssue(`version: 1\nresources:\n  db: { type: sqlite, file: ./a.db }\n${POOL}routes:\n  - match: { path: /x }\n    proxy: db\n`,
    { code: 'ACTORRT_E_CONFIG_REF_TYPE', line: 9, col: 12, message: /type sqlite/ });
});

test('rejects a pool bound to an undeclared resource, pointing at the list item', () => {
  assertIssue(`version: 1\nresources:\n  db: { type: sqlite, file: ./a.db }\npools:\n  api:\n    actor: ./actors/api.ts\n    resources: [db, cache]\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 7, col: 21 });
});

test('rejects a redis cache bound to a resource that is not redis', () => {
  assertIssue(`version: 1\nresources:\n  db: { type: sqlite, file: ./a.db }\ncaches:\n  shared: { store: redis, resource: db }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_REF_TYPE', line: 5, col: 37, message: /redis cache needs a redis resource/ });
});

test('rejects a redis cache bound to an undeclared resource', () => {
  assertIssue(`version: 1\ncaches:\n  shared: { store: redis, resource: redis }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 3, col: 37 });
});

test('rejects a route cache that names an unknown cache', () => {
  assertIssue(`version: 1\ncaches:\n  local: { store: memory }\n${POOL}routes:\n  - match: { method: GET, path: /u/:id }\n    pool: api\n    cache: { use: locl, key: "u:{params.id}" }\n`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 10, col: 19, hint: /did you mean "local"/ });
});

test('rejects a cache key template that uses a path parameter the route does not have', () => {
  assertIssue(`version: 1\ncaches:\n  local: { store: memory }\n${POOL}routes:\n  - match: { method: GET, path: /u/:id }\n    pool: api\n    cache: { use: local, key: "u:{params.ids}" }\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 10, col: 31, hint: /did you mean "id"/ });
});

test('rejects a malformed key template placeholder', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { method: PUT, path: /u/:id }\n    pool: api\n    invalidate: ["u:{param.id}"]\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 8, col: 18, message: /placeholder/ });
});

test('rejects a cache on a route that only matches mutating methods', () => {
  assertIssue(`version: 1\ncaches:\n  local: { store: memory }\n${POOL}routes:\n  - match: { method: POST, path: /u }\n    pool: api\n    cache: { use: local, key: "u" }\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 10, col: 12, message: /only to GET and HEAD/ });
});

test('rejects a pool whose actor module does not exist, naming the resolved path', () => {
  const issue = assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/missing.ts\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ACTOR_MODULE', line: 4, col: 12, hint: /relative to the topology file/ });
  assert.match(issue.message, /actors\/missing\.ts does not exist/);
});

test('rejects an actor module with an extension it cannot load', () => {
  assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/api.py\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ACTOR_MODULE', line: 4, col: 12 }, { 'actors/api.py': 'print(1)\n' });
});

test('rejects a sqlite init script that does not exist', () => {
  assertIssue(`version: 1\nresources:\n  db: { type: sqlite, file: ./a.db, init: ./schema.sql }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_FILE_NOT_FOUND', line: 3, col: 43 });
});

test('rejects a postgres resource with neither url nor host', () => {
  assertIssue(`version: 1\nresources:\n  pg: { type: postgres, max: 5 }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 3, col: 7, hint: /DATABASE_URL/ });
});

test('flags a route that can never match because an earlier one takes the same requests', () => {
  const issue = assertIssue(`version: 1\n${POOL}routes:\n  - match: { method: GET, path: /users/:id }\n    pool: api\n  - match: { method: GET, path: /users/:key }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_CONFLICT', line: 8, col: 12, message: /routes\[1\] can never match: routes\[0\] \(line 6\)/ });
  assert.match(issue.hint ?? '', /condition/);
});

test('flags a method-specific route shadowed by an earlier any-method route on the same path', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n  - match: { method: [GET, POST], path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_CONFLICT', line: 8, col: 12 });
});

test('accepts two routes on the same path told apart by a header condition', () => {
  assert.throws(() => issuesOf(`version: 1\n${POOL}routes:\n  - match: { method: POST, path: /t, header: { content-type: image/* } }\n    pool: api\n  - match: { method: POST, path: /t }\n    pool: api\n`),
    /expected the topology to be rejected/);
});

test('rejects a route path with a wildcard in the middle', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /files/*/meta }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_PATH', line: 6, col: 20, message: /last segment/ });
});

test('rejects a route path that repeats a parameter name', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /a/:id/b/:id }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_PATH', line: 6, col: 20, message: /appears twice/ });
});

test('rejects a route on a reserved health path', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /healthz }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_CONFLICT', line: 6, col: 20, message: /reserved for health/ });
});

test('rejects stripPrefix on a route that is not a proxy', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x/* }\n    pool: api\n    stripPrefix: /x\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 8, col: 18, message: /only applies to proxy routes/ });
});

test('rejects a backoff whose minimum exceeds its maximum', () => {
  assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    supervision: { backoff: { min: 10s, max: 1s } }\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 36 });
});

test('rejects a header timeout longer than the request timeout', () => {
  assertIssue(`version: 1\nhttp:\n  limits: { headersTimeout: 1m, requestTimeout: 30s }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 29 });
});

test('reports every cross-reference problem at once, not just the first', () => {
  const issues = issuesOf(`version: 1\n${POOL}routes:\n  - match: { path: /a }\n    pool: nope\n  - match: { path: /b }\n    proxy: nada\n`);
  assert.deepEqual(issues.map((i) => i.code), ['ACTORRT_E_CONFIG_UNKNOWN_REF', 'ACTORRT_E_CONFIG_UNKNOWN_REF']);
  assert.deepEqual(issues.map((i) => i.path), ['routes[0].pool', 'routes[1].proxy']);
});

const UP = 'resources:\n  up: { type: http, origins: [http://127.0.0.1:9] }\n';

test('rejects a proxy rewrite that uses a parameter the path does not have', () => {
  assertIssue(`version: 1\n${UP}routes:\n  - match: { path: /users/:id }\n    proxy: up\n    rewrite: /v2/users/:uid\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 7, col: 14, message: /uses :uid, but \/users\/:id has no :uid/, hint: /:id/ });
});

test('rejects a proxy route with both stripPrefix and rewrite', () => {
  assertIssue(`version: 1\n${UP}routes:\n  - match: { path: /api/* }\n    proxy: up\n    stripPrefix: /api\n    rewrite: /*\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 8, col: 14, message: /both stripPrefix and rewrite/ });
});

test('rejects a * in an invalidate entry anywhere but at its end', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { method: PUT, path: /u/:id }\n    pool: api\n    invalidate: ["u:*:{params.id}"]\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 8, col: 18, message: /\* that is not its last character/ });
});

test('rejects watchdog and maxRss on an inline pool, pointing at http.*', () => {
  assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    maxRss: 200mb\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 13, message: /only applies to isolated pools/, hint: /set http\.maxRss instead/ });
});

test('rejects a pool with both processes and threads, pointing at threads', () => {
  assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    processes: 2\n    threads: 2\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 14, message: /has both processes and threads/, hint: /choose one/ });
});

test('thread pools take watchdog and maxHeap; maxHeap elsewhere, maxRss on threads and a tiny maxHeap are refused', () => {
  const pool = (keys: string): string => `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n${keys}routes:\n  - match: { path: /x }\n    pool: api\n`;
  assert.equal(load(pool('    threads: 2\n    watchdog: 2s\n    maxHeap: 64mb\n')).pools['api']?.maxHeap, 64 * 1048576);
  assertIssue(pool('    maxHeap: 64mb\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 14, message: /maxHeap only applies to thread pools/, hint: /add threads: N/ });
  assertIssue(pool('    processes: 1\n    maxHeap: 64mb\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 14, message: /maxHeap only applies to thread pools/, hint: /maxRss/ });
  assertIssue(pool('    threads: 1\n    maxRss: 256mb\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 13, message: /maxRss only applies to isolated pools/, hint: /maxHeap/ });
  assertIssue(pool('    threads: 1\n    maxHeap: 4mb\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 14, message: /maxHeap is below 16mb/, hint: /in a loop/ });
});

test('rejects a maxRss below what a fresh process already uses (it would replace processes in a loop)', () => {
  assertIssue(`version: 1\nhttp:\n  maxRss: 64mb\npools:\n  api:\n    actor: ./actors/api.ts\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 11, message: /http\.maxRss is below 128mb/, hint: /in a loop/ });
});

test('a route cache without use: names the caches to choose from, or asks for one when there is none', () => {
  assertIssue(`version: 1\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n    cache: { ttl: 1s }\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 8, col: 12, message: /declares none/, hint: /caches:/ });
  assertIssue(`version: 1\ncaches:\n  a: { store: memory }\n  b: { store: memory }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n    cache: { ttl: 1s }\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 11, col: 12, message: /declares 2: a, b/, hint: /use: a/ });
});

test('http.metricsPath may not take a route\'s path nor a health path; admin.metrics takes host:port or false', () => {
  assertIssue(`version: 1\nhttp: { metricsPath: /m }\n${POOL}routes:\n  - match: { path: /m }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_ROUTE_CONFLICT', line: 7, col: 20, message: /is http\.metricsPath/ });
  assertIssue(`version: 1\nhttp: { metricsPath: /healthz }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_VALUE', line: 2, col: 22, message: /is a health path/ });
  for (const bad of ['"127.0.0.1:70000"', 'garbage', '"http://127.0.0.1:9464"', '"127.0.0.1:9464/metrics"']) {
    assertIssue(`version: 1\nadmin: { metrics: ${bad} }\n${POOL}routes:\n  - match: { path: /x }\n    pool: api\n`,
      { code: 'ACTORRT_E_CONFIG_VALUE', line: 2, col: 19, message: /admin\.metrics must be a string like 127\.0\.0\.1:9464/, hint: /host:port/ });
  }
});

test('autoscale: defaults by pool kind; bounds, targets, steps and windows that cannot work are refused where they are written', () => {
  const pool = (keys: string): string => `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n${keys}routes:\n  - match: { path: /x }\n    pool: api\n`;
  assert.deepEqual(load(pool('    autoscale: {}\n')).pools['api']?.autoscale, {
    min: 1, signal: 'inflight', target: 1, tolerance: 0.1, interval: 1000,
    up: { window: 5000, step: { ratio: 3 } }, down: { window: 60_000, step: { ratio: 1 } },
  });
  const threads = load(pool('    threads: 1\n    autoscale: { max: 4, up: { step: 1 }, down: { step: 50% } }\n')).pools['api']?.autoscale;
  assert.deepEqual([threads?.signal, threads?.target, threads?.max, threads?.up.step, threads?.down.step], ['utilization', 0.7, 4, { units: 1 }, { ratio: 0.5 }]);
  assert.equal(load(pool('    processes: 1\n    autoscale: { signal: inflight }\n')).pools['api']?.autoscale?.target, 1);
  assertIssue(pool('    autoscale: { min: 4, max: 2 }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 23, message: /autoscale\.min \(4\) is larger than max \(2\)/, hint: /lower min or raise max/ });
  assertIssue(pool('    threads: 1\n    autoscale: { target: 70 }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 26, message: /utilization is a share of time from 0 to 1/, hint: /0\.7 for 70 %/ });
  assertIssue(pool('    processes: 1\n    autoscale: { max: 300 }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 23, message: /an isolated pool has at most 256 processes/ });
  assertIssue(pool('    threads: 1\n    autoscale: { min: 300 }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 23, message: /autoscale\.min is 300; a thread pool has at most 256 threads/ });
  assertIssue(pool('    autoscale: { up: { step: 0% } }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 30, message: /up\.step is 0%: the pool could never grow/ });
  assertIssue(pool('    autoscale: { interval: 2s, down: { window: 1s } }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 48, message: /down\.window is shorter than the sampling interval/ });
  assertIssue(pool('    autoscale: { interval: 10ms }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 28, message: /interval is below 100ms/ });
  assertIssue(pool('    autoscale: { up: { step: 2x } }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 30, message: /up\.step must be a number of units \(2\) or a percentage of the current size \(50%\); got "2x"/ });
  assertIssue(pool('    autoscale: { signal: latency }\n'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 26, message: /must be one of inflight, utilization/ });
  assertIssue(pool('    autoscale: { mni: 2 }\n'), { code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 5, col: 18, hint: /min/ });
});
