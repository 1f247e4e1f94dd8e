import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@keyv/redis';
import { Client } from 'undici';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { eventually, ROOT, tempDir, within } from '../helpers.js';
import { call, callFresh, runCli, startInstance, type Answer, type Instance } from './instance.js';
import { Relay } from './services.js';

// Real Redis on 127.0.0.1:6379 (.ci/run starts it); never skipped.
const REDIS = 'redis://127.0.0.1:6379';

/**
 * The cache topology. The Redis store's timeout is 2 s, not its 50 ms default: on a busy machine a
 * Redis round trip (through the test's relay) can take longer than 100 ms, which by design reads as
 * a miss and made the sharing tests fail; the paused-Redis test still proves a request is answered
 * while Redis does not answer.
 */
function topology(namespace: string, upstream: string | undefined, redisUrl = REDIS): string {
  const text = `version: 1
http: { port: 0, host: 127.0.0.1, workers: 2 }
resources:
  redis: { type: redis, url: ${redisUrl} }
  origin: { type: http, origins: [${upstream ?? 'http://127.0.0.1:9'}] }
caches:
  local: { store: memory, maxEntries: 1000 }
  shared: { store: redis, resource: redis, namespace: ${namespace}, timeout: 2s }
pools:
  items: { actor: ./actors/item.mjs, size: 8 }
  memo: { actor: ./actors/memo.mjs, size: 2 }
routes:
  - match: { method: GET, path: /items/:id }
    pool: items
    cache: { use: local, key: "item:{params.id}", ttl: 60s }
  - match: { method: GET, path: /lang/:id }
    pool: items
    cache: { use: local, key: "lang:{params.id}", vary: [accept-language] }
  - match: { method: GET, path: /shared/:id }
    pool: items
    cache: { use: shared, key: "item:{params.id}", ttl: 60s }
  - match: { method: GET, path: /flaky/:id }
    pool: items
    cache: { use: local, key: "flaky:{params.id}", ttl: 300ms, staleIfError: 1m }
  - match: { method: GET, path: /fresh/:id }
    pool: items
    cache: { use: local, key: "fresh:{params.id}", allowNoCache: true }
  - match: { method: [PUT, DELETE], path: /items/:id }
    pool: items
    invalidate: ["item:{params.id}", "list:*"]
  - match: { method: GET, path: /list/:page }
    pool: items
    cache: { use: local, key: "list:{params.page}" }
  - match: { method: [GET, DELETE], path: /memo/:store/:id }
    pool: memo
  - match: { method: GET, path: /upstream/* }
    proxy: origin
    stripPrefix: /upstream
    cache: { use: shared, key: "up:{path}", ttl: 30s }   # a proxied reply without Cache-Control is fresh only for a ttl the route gives
`;
  return upstream === undefined ? text.replace(/\n  origin: .*\n/, '\n').replace(/\n  - match: \{ method: GET, path: \/upstream\/\* \}[^]*$/, '\n') : text;
}

interface Item { readonly id: string; readonly value: unknown; readonly lang: string | null; readonly pid: number; readonly served: number }

/** Actor runs recorded by the fixture (one line per run, across processes), for `path`. */
function runsOf(dir: string, path: string): string[] {
  const file = join(dir, 'runs.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith(` GET ${path}`) || l.endsWith(` ${path}`));
}

/** GET on a fresh connection, so that requests spread over both workers. */
const get = (app: Instance, path: string): Promise<Answer> => callFresh(app.url, path);

describe('route caches on a running instance (2 workers, memory and Redis stores)', () => {
  let app: Instance;
  let dir: string;
  let upstream: Server;
  let upstreamHits = 0;
  const namespace = `actorrt-it-${randomUUID()}`;
  const redis = createClient({ url: REDIS });
  // The instance reaches Redis through a relay, so a test can pause it without pausing the shared server.
  const relay = Relay.for(REDIS);

  before(async () => {
    await redis.connect();
    await relay.open();
    upstream = createServer((req, res) => {
      upstreamHits++;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': 'yes' });
      res.end(`origin saw ${req.url ?? ''}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    dir = tempDir('cache');
    cpSync(join(ROOT, 'test/fixtures/cache/actors'), join(dir, 'actors'), { recursive: true });
    writeFileSync(join(dir, 'actorrt.yml'), topology(namespace, `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, relay.url(REDIS)));
    app = await startInstance(join(dir, 'actorrt.yml'));
  });

  after(async () => {
    try {
      await app?.stop();
    } finally {
      await relay.cut();
      upstream?.close();
      for await (const keys of redis.scanIterator({ MATCH: `${namespace}:*` })) if (keys.length > 0) await redis.del(keys);
      await redis.close();
    }
  });

  test('a repeat is a HIT with Age and the same body; the first is a MISS; the actor runs once per worker at most', { timeout: 30_000 }, async () => {
    const first = await get(app, '/items/a1');
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-cache'], 'MISS');
    let hit: Answer | undefined;
    for (let i = 0; i < 10; i++) {
      const a = await get(app, '/items/a1');
      assert.equal(a.status, 200);
      if (a.headers['x-cache'] === 'HIT') hit = a;
    }
    assert.ok(hit, 'some repeat was a hit');
    assert.match(String(hit.headers['age']), /^\d+$/);
    assert.match(String(hit.headers['x-request-id']), /.+/);
    assert.notEqual(hit.headers['x-request-id'], first.headers['x-request-id'], 'a hit carries its own request id');
    assert.ok(runsOf(dir, '/items/a1').length <= 2);
  });

  test('HEAD on a cached GET route: the headers of the GET reply (X-Cache, Content-Length), no body', { timeout: 30_000 }, async () => {
    const dispatcher = new Client(app.url); // one connection: one worker, whose memory store holds the entry
    const got = await call(`${app.url}/items/h1`, { dispatcher });
    const head = await call(`${app.url}/items/h1`, { method: 'HEAD', dispatcher });
    await dispatcher.close();
    assert.equal(head.status, 200);
    assert.equal(head.headers['x-cache'], 'HIT');
    assert.equal(head.headers['content-length'], String(Buffer.byteLength(got.text)));
    assert.equal(head.text, '');
  });

  test('Set-Cookie, Cache-Control no-store / private and statuses not listed are never stored', { timeout: 30_000 }, async () => {
    for (const [id, mode] of [['c1', 'cookie'], ['c2', 'no-store'], ['c3', 'private'], ['c4', 'missing']] as const) {
      for (let i = 0; i < 3; i++) {
        const a = await call(`${app.url}/items/${id}?mode=${mode}`);
        assert.equal(a.headers['x-cache'], 'MISS', `${mode}: request ${i + 1}`);
      }
      assert.equal(runsOf(dir, `/items/${id}`).length, 3, `${mode}: the actor ran every time`);
    }
  });

  test('vary: one entry per Accept-Language, and the reply says Vary', { timeout: 30_000 }, async () => {
    const dispatcher = new Client(app.url); // one connection: one worker, whose memory store holds the entry
    const ask = (lang: string): Promise<Answer> => call(`${app.url}/lang/v1`, { headers: { 'accept-language': lang }, dispatcher });
    const fr = await ask('fr');
    const de = await ask('de');
    const frAgain = await ask('fr');
    await dispatcher.close();
    assert.equal((fr.json as Item).lang, 'fr');
    assert.equal((de.json as Item).lang, 'de');
    assert.equal(de.headers['x-cache'], 'MISS');
    assert.equal(frAgain.headers['x-cache'], 'HIT');
    assert.equal((frAgain.json as Item).lang, 'fr');
    assert.equal(fr.headers['vary'], 'accept-language');
  });

  test('after a PUT on any worker, no worker serves the old value (invalidation reaches both before the reply)', { timeout: 30_000 }, async () => {
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 6; i++) await get(app, '/items/inv'); // both workers hold the entry
      const put = await call(`${app.url}/items/inv`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ round }) });
      assert.equal(put.status, 200);
      for (let i = 0; i < 6; i++) {
        const a = await get(app, '/items/inv');
        assert.deepEqual((a.json as Item).value, { round }, `round ${round}, read ${i + 1} after the PUT (x-cache ${String(a.headers['x-cache'])})`);
      }
    }
    const pids = new Set(runsOf(dir, '/items/inv').map((l) => l.split(' ')[0]));
    assert.equal(pids.size, 2, 'both workers served (and cached) the key');
  });

  test('a prefix invalidation removes every matching key, in the memory store of each worker', { timeout: 30_000 }, async () => {
    for (const page of ['1', '2']) for (let i = 0; i < 4; i++) await get(app, `/list/${page}`);
    const before = runsOf(dir, '/list/1').length + runsOf(dir, '/list/2').length;
    await call(`${app.url}/items/anything`, { method: 'DELETE' });
    const after1 = await get(app, '/list/1');
    const after2 = await get(app, '/list/2');
    assert.equal(after1.headers['x-cache'], 'MISS');
    assert.equal(after2.headers['x-cache'], 'MISS');
    assert.equal(runsOf(dir, '/list/1').length + runsOf(dir, '/list/2').length, before + 2);
  });

  test('single flight with memory: 100 concurrent misses run the actor once per worker', { timeout: 30_000 }, async () => {
    const answers = await Promise.all(Array.from({ length: 100 }, () => get(app, '/items/storm?delay=150')));
    assert.ok(answers.every((a) => a.status === 200));
    const runs = runsOf(dir, '/items/storm').length;
    assert.ok(runs >= 1 && runs <= 2, `${runs} actor runs`);
  });

  test('single flight with Redis: 100 concurrent misses over 2 workers run the actor once in total', { timeout: 30_000 }, async () => {
    const answers = await Promise.all(Array.from({ length: 100 }, () => get(app, '/shared/storm?delay=150')));
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(runsOf(dir, '/shared/storm').length, 1);
    const bodies = new Set(answers.map((a) => a.text));
    assert.equal(bodies.size, 1, 'every client got the one computed reply');
  });

  test('Redis entries are shared: a key stored by one worker is a hit on the other; invalidation clears Redis too', { timeout: 30_000 }, async () => {
    await get(app, '/shared/s1');
    for (let i = 0; i < 6; i++) assert.equal((await get(app, '/shared/s1')).headers['x-cache'], 'HIT');
    assert.equal(runsOf(dir, '/shared/s1').length, 1);
    assert.ok(await redis.exists(`${namespace}:item:s1`));
    await call(`${app.url}/items/s1`, { method: 'DELETE' });
    assert.equal(await redis.exists(`${namespace}:item:s1`), 0);
  });

  test('stale-if-error: when the actor fails past the ttl, the stale reply is served (STALE), 200', { timeout: 30_000 }, async () => {
    const first = await get(app, '/flaky/f1');
    assert.equal(first.status, 200);
    // Both workers hold it, so that whichever answers has it to fall back on: fresh connections
    // until each worker has computed it once (the kernel may hand several in a row to one worker).
    const pids = (): number => new Set(runsOf(dir, '/flaky/f1').map((l) => l.split(' ')[0])).size;
    await eventually('both workers cached /flaky/f1', async () => { await get(app, '/flaky/f1'); return pids() === 2; }, 10_000);
    try {
      writeFileSync(join(dir, 'fail'), 'throw');
      // Past the 300 ms ttl each worker answers from its stale entry (its own pid in the body); a
      // worker whose entry is still fresh answers HIT. Wait until both have gone stale.
      const stale = new Set<number>();
      await eventually('both workers serve /flaky/f1 stale', async () => {
        const a = await get(app, '/flaky/f1');
        if (a.headers['x-cache'] === 'STALE') stale.add((a.json as Item).pid);
        return stale.size === 2;
      }, 10_000, () => `stale in ${stale.size} worker(s)`);
      for (let i = 0; i < 4; i++) {
        const a = await get(app, '/flaky/f1');
        assert.equal(a.status, 200);
        assert.equal(a.headers['x-cache'], 'STALE');
        assert.equal((a.json as Item).id, 'f1');
      }
      writeFileSync(join(dir, 'fail'), '500');
      const five = await get(app, '/flaky/f1');
      assert.equal(five.status, 200);
      assert.equal(five.headers['x-cache'], 'STALE');
      const uncached = await get(app, '/flaky/never-stored');
      assert.equal(uncached.status, 500, 'nothing stale to fall back on');
      assert.equal(uncached.headers['x-cache'], 'MISS');
    } finally {
      rmSync(join(dir, 'fail'), { force: true });
    }
  });

  test('Cache-Control: no-cache from the client bypasses the lookup only on a route that allows it', { timeout: 30_000 }, async () => {
    await get(app, '/fresh/n1');
    const dispatcher = new Client(app.url); // one connection: one worker, whose memory store holds the entry
    const bypass = await call(`${app.url}/fresh/n1`, { headers: { 'cache-control': 'no-cache' }, dispatcher });
    const ignored = await call(`${app.url}/items/a1`, { headers: { 'cache-control': 'no-cache' }, dispatcher });
    await dispatcher.close();
    assert.equal(bypass.headers['x-cache'], 'BYPASS');
    assert.equal(ignored.headers['x-cache'], 'HIT');
  });

  test('a cached proxy route: the upstream is asked once, its headers are kept', { timeout: 30_000 }, async () => {
    const before = upstreamHits;
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await get(app, '/upstream/page?x=1'));
    assert.equal(upstreamHits - before, 1);
    assert.ok(answers.every((a) => a.status === 200 && a.text === 'origin saw /page?x=1' && a.headers['x-origin'] === 'yes'));
    assert.deepEqual(answers.map((a) => a.headers['x-cache']), ['MISS', 'HIT', 'HIT', 'HIT', 'HIT']);
  });

  test('ctx.caches from an actor: computed once per store, copies not references, delete reaches every worker', { timeout: 30_000 }, async () => {
    const first = await get(app, '/memo/shared/m1');
    assert.deepEqual(first.json, { id: 'm1', computedBy: (first.json as { computedBy: number }).computedBy, cached: false });
    for (let i = 0; i < 4; i++) {
      const again = (await get(app, '/memo/shared/m1')).json as { computedBy: number; cached: boolean };
      assert.equal(again.cached, true);
      assert.notEqual(again.computedBy, -1, 'what was stored is what set() was given, not the object changed after');
    }
    for (let i = 0; i < 6; i++) await get(app, '/memo/local/m1');
    const del = await call(`${app.url}/memo/local/m1`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    for (let i = 0; i < 6; i++) {
      const a = (await get(app, '/memo/local/m1')).json as { cached: boolean; computedBy: number };
      if (a.cached) assert.notEqual(a.computedBy, -1);
    }
    const computedAfterDelete = runsOf(dir, 'memo:m1').length;
    assert.ok(computedAfterDelete >= 2, 'the delete made the local store compute again');
    const unknown = await call(`${app.url}/memo/nope/m1`);
    assert.equal(unknown.status, 404);
  });

  test('a paused Redis never fails a request nor holds it past the store timeout', { timeout: 30_000 }, async () => {
    await get(app, '/shared/p1');
    relay.freeze();
    try {
      // A request held by Redis would wait until the thaw below: each must be answered while Redis is still paused.
      const answers = await within('requests while Redis is paused', Promise.all(['p1', 'p2', 'p3'].map((id) => get(app, `/shared/${id}`))), 15_000, 'held by the paused Redis');
      assert.ok(answers.every((a) => a.status === 200), answers.map((a) => a.status).join(','));
    } finally {
      relay.thaw();
    }
  });

  test('status shows each store with its hit rate and entries', { timeout: 30_000 }, async () => {
    const { code, stdout, stderr } = await runCli(['status', '--pid-file', app.pidFile, '--json']);
    assert.equal(code, 0, stderr);
    const status = JSON.parse(stdout) as InstanceStatus;
    const local = status.caches.find((c) => c.name === 'local');
    const shared = status.caches.find((c) => c.name === 'shared');
    assert.ok(local && shared);
    assert.equal(local.kind, 'memory');
    assert.ok((local.hits) > 0 && (local.entries ?? 0) > 0 && (local.hitRate ?? 0) > 0);
    assert.ok(shared.hits > 0);
    const text = await runCli(['status', '--pid-file', app.pidFile]);
    assert.match(text.stdout, /caches:\n\s+local\s+memory\s+hit rate \d+\.\d%/);
  });
});

test('a Redis that is unreachable from the start: the instance serves, the Redis-cached route answers as misses', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('cache-down');
  cpSync(join(ROOT, 'test/fixtures/cache/actors'), join(dir, 'actors'), { recursive: true });
  writeFileSync(join(dir, 'actorrt.yml'), topology('unused', undefined, 'redis://127.0.0.1:1'));
  const app = await startInstance(join(dir, 'actorrt.yml'), [], t);
  for (let i = 0; i < 3; i++) {
    const a = await call(`${app.url}/shared/x`);
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-cache'], 'MISS');
  }
  assert.equal(runsOf(dir, '/shared/x').length, 3);
  assert.equal((await call(`${app.url}/items/y`)).status, 200, 'memory caches are unaffected');
  await eventually('status reports the store unavailable', async () => {
    const { stdout } = await runCli(['status', '--pid-file', app.pidFile, '--json']);
    return (JSON.parse(stdout) as InstanceStatus).caches.find((c) => c.name === 'shared')?.available === false;
  });
  assert.equal(await app.stop(), 0);
});
