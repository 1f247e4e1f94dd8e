import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { ActorrtError } from '../../runtime/errors.js';
import { defineActor, type ActorContext } from '../../actors/index.js';
import { startTopology, testActor, TestClock, type TestTopology } from '../../testing/index.js';
import { rejectionCode, writeProject } from '../helpers.js';

/** An actor module of the test project: a plain object (modules outside this package cannot import 'actorrt'). */
const ECHO = `export default {
  init: (ctx) => { ctx.log.info({ started: true }, 'echo init'); return { n: 0 }; },
  receive: async (state, req, ctx) => {
    state.n += 1;
    ctx.log.info({ n: state.n }, 'echo');
    if (req.params.what === 'cache') {
      const hit = await ctx.caches.notes.get('k');
      if (hit === undefined) await ctx.caches.notes.set('k', state.n, '10s');
      return { cached: hit ?? null, n: state.n };
    }
    if (req.params.what === 'client') return { client: ctx.resources.mail.send('hi') };
    if (req.params.what === 'index') return { index: ctx.self.index };
    if (req.params.what === 'liar') return { headers: { 'content-type': 'application/json' }, body: 'not json' };
    if (req.params.what === 'slow') { await new Promise((r) => setTimeout(r, 3000)); return { late: true }; }
    if (req.params.what === 'bytes') return { length: req.body.length, isBuffer: Buffer.isBuffer(req.body) };
    return { n: state.n, path: req.path, query: req.query, body: req.body ?? null, ua: req.headers['x-test'] ?? null };
  },
  stop: (state, ctx) => ctx.log.info({ n: state.n }, 'echo stop'),
};
`;

const TOPOLOGY = `version: 1
resources:
  mail: { type: http, origins: ["http://127.0.0.1:1"] }
caches:
  notes: { store: memory, ttl: 10s }
pools:
  echo: { actor: ./actors/echo.mjs, size: 1 }
  wide: { actor: ./actors/echo.mjs, size: 2, processes: 3 }
routes:
  - match: { method: [GET, POST], path: /echo/:what }
    pool: echo
  - match: { method: GET, path: /cached/:what }
    pool: echo
    cache: { use: notes, key: "c:{params.what}", ttl: 5s }
  - match: { method: GET, path: /wide/:what }
    pool: wide
`;

async function started(t: { after(fn: () => unknown): void }, topology = TOPOLOGY, options: Parameters<typeof startTopology>[1] = {}): Promise<TestTopology> {
  const app = await startTopology(writeProject(topology, { 'actors/echo.mjs': ECHO }), options);
  t.after(() => app.close());
  return app;
}

describe('startTopology', () => {
  test('answers through the front actor: routing, JSON bodies, query, headers, errors, health, and records every log line', async (t) => {
    const app = await started(t);
    const res = await app.request<{ n: number; path: string; query: unknown; body: unknown; ua: unknown }>(
      { method: 'POST', url: '/echo/x?a=1&a=2', headers: { 'x-test': 'yes' }, body: { hello: 'you' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(res.body, { n: 1, path: '/echo/x', query: { a: ['1', '2'] }, body: { hello: 'you' }, ua: 'yes' });
    assert.equal(JSON.parse(res.text).n, 1);
    const missing = await app.request<{ error: { code: string; requestId: string } }>({ url: '/nowhere' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'ACTORRT_E_NOT_FOUND');
    assert.equal(missing.headers['x-request-id'], missing.body.error.requestId);
    assert.equal((await app.request({ method: 'DELETE', url: '/echo/x' })).status, 405);
    assert.equal((await app.request({ url: '/readyz' })).status, 200);
    const line = app.logs.find((l) => l.msg === 'echo' && l['n'] === 1);
    assert.ok(line, 'ctx.log lines are recorded');
    assert.equal(line['pool'], 'echo');
    assert.equal(line['requestId'], res.headers['x-request-id']);
    assert.ok(app.logs.some((l) => l.msg === 'echo init'));
  });

  test('a file: URL names a topology wherever the test runs from; any other URL is refused', async (t) => {
    const app = await startTopology(pathToFileURL(writeProject(TOPOLOGY, { 'actors/echo.mjs': ECHO })));
    t.after(() => app.close());
    assert.equal((await app.request({ url: '/echo/x' })).status, 200);
    assert.equal(await rejectionCode(startTopology(new URL('https://example.com/actorrt.yml'))), 'ACTORRT_E_TEST_KIT');
  });

  test('an isolated pool runs in-process with the actors of all its processes; the topology object form reads paths from dir', async (t) => {
    const file = writeProject(TOPOLOGY, { 'actors/echo.mjs': ECHO });
    const app = await startTopology({
      version: 1, pools: { wide: { actor: './actors/echo.mjs', size: 2, processes: 3 } },
      routes: [{ match: { path: '/wide/:what' }, pool: 'wide' }],
    }, { dir: dirname(file) });
    t.after(() => app.close());
    assert.equal(app.config.pools['wide']?.size, 6);
    assert.equal(app.config.pools['wide']?.processes, undefined);
    const replies = await Promise.all(Array.from({ length: 12 }, () => app.request<{ index: number }>({ url: '/wide/index' })));
    assert.ok(replies.every((r) => r.status === 200));
  });

  test('a TestClock ages cached replies and ctx.caches entries; nothing else waits', async (t) => {
    const clock = new TestClock();
    const app = await started(t, TOPOLOGY, { clock });
    const first = await app.request({ url: '/cached/a' });
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.equal((await app.request({ url: '/cached/a' })).headers['x-cache'], 'HIT');
    clock.advance('4s');
    const aged = await app.request({ url: '/cached/a' });
    assert.equal(aged.headers['x-cache'], 'HIT');
    assert.equal(aged.headers['age'], '4');
    clock.advance(1500);
    assert.equal((await app.request({ url: '/cached/a' })).headers['x-cache'], 'MISS', 'past the route ttl (5s)');
    // ctx.caches: stored for 10s by the actor
    assert.deepEqual((await app.request({ url: '/echo/cache' })).body, { cached: null, n: 3 });
    assert.deepEqual((await app.request({ url: '/echo/cache' })).body, { cached: 3, n: 4 });
    clock.advance('11s');
    assert.deepEqual((await app.request({ url: '/echo/cache' })).body, { cached: null, n: 5 });
    assert.throws(() => clock.advance(-1), RangeError);
  });

  test('resources are replaced by settings (checked like the file) or by ready clients the test owns', async (t) => {
    const upstream = await stubUpstream(t);
    const proxied = `${TOPOLOGY}  - match: { path: /up/* }\n    proxy: mail\n`;
    const app = await started(t, proxied, { resources: { mail: { origins: [upstream] } } });
    const res = await app.request<{ seen: string }>({ url: '/up/x?y=1' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { seen: '/up/x?y=1' });

    const sent: string[] = [];
    const fake = { send: (m: string) => { sent.push(m); return 'queued'; } };
    const withClient = await started(t, `${TOPOLOGY.replace('size: 1 }', 'size: 1, resources: [mail] }')}`, { clients: { mail: fake } });
    assert.deepEqual((await withClient.request({ url: '/echo/client' })).body, { client: 'queued' });
    assert.deepEqual(sent, ['hi']);

    const file = writeProject(TOPOLOGY, { 'actors/echo.mjs': ECHO });
    assert.equal(await rejectionCode(startTopology(file, { resources: { db: { file: ':memory:' } } })), 'ACTORRT_E_TEST_KIT');
    assert.equal(await rejectionCode(startTopology(file, { clients: { db: {} } })), 'ACTORRT_E_TEST_KIT');
    await assert.rejects(startTopology(file, { resources: { mail: { origins: 'nope' } } }),
      (err: unknown) => err instanceof ActorrtError && /options\.resources/.test(err.message) && /origins/.test(err.message));
  });

  test("caches: 'memory' runs a Redis cache as a memory store, without Redis", async (t) => {
    const redis = `version: 1
resources:
  kv: { type: redis, url: "redis://127.0.0.1:1" }
caches:
  shared: { store: redis, resource: kv, ttl: 1m }
pools:
  echo: { actor: ./actors/echo.mjs }
routes:
  - match: { path: /cached/:what }
    pool: echo
    cache: { use: shared, key: "c:{params.what}" }
`;
    const app = await started(t, redis, { caches: 'memory' });
    assert.equal(app.config.caches['shared']?.store, 'memory');
    assert.equal((await app.request({ url: '/cached/a' })).headers['x-cache'], 'MISS');
    assert.equal((await app.request({ url: '/cached/a' })).headers['x-cache'], 'HIT');
  });

  test('close() stops the actors (their stop runs), twice is safe, and a request after it is refused', async (t) => {
    const app = await started(t);
    await app.request({ url: '/echo/x' });
    await app.close();
    await app.close();
    assert.ok(app.logs.some((l) => l.msg === 'echo stop'));
    assert.equal(await rejectionCode(app.request({ url: '/echo/x' })), 'ACTORRT_E_TEST_KIT');
  });

  test('a pool whose init fails rejects start with its code, having released what it opened', async () => {
    const file = writeProject(TOPOLOGY, { 'actors/echo.mjs': 'export default { init: () => { throw new Error("no db") }, receive: () => ({}) };\n' });
    assert.equal(await rejectionCode(startTopology(file)), 'ACTORRT_E_ACTOR_INIT');
  });
});

describe('startTopology refuses what no client could send and options it cannot use, naming them', () => {
  test('requests: methods, urls, headers and bodies', async (t) => {
    const app = await started(t);
    const refused = async (req: unknown): Promise<string> => rejectionCode(app.request(req as Parameters<TestTopology['request']>[0]));
    assert.equal(await refused(undefined), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ url: 'echo/x' }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ url: '/echo/a b' }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ method: 'FOO', url: '/echo/x' }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ method: 'get', url: '/echo/x' }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ url: '/echo/x', headers: { 'x-test': 'a\r\nb' } }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ url: '/echo/x', headers: { 'bad name': 'a' } }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ method: 'POST', url: '/echo/x', body: new Map([[1, 2]]) }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await refused({ method: 'POST', url: '/echo/x', body: { n: 1n } }), 'ACTORRT_E_TEST_KIT');
    const dropped = await app.request<{ ua: unknown }>({ url: '/echo/x', headers: { 'x-test': undefined } });
    assert.equal(dropped.body.ua, null, 'an undefined header is not sent');
    const bytes = await app.request({ method: 'POST', url: '/echo/bytes', body: new Uint8Array([1, 2, 3]) });
    assert.deepEqual(bytes.body, { length: 3, isBuffer: true });
  });

  test('a reply whose body is not the JSON its type says, and a part (206), read as text', async (t) => {
    const app = await started(t);
    const liar = await app.request({ url: '/echo/liar' });
    assert.equal(liar.status, 200);
    assert.equal(liar.body, 'not json');
    await app.request({ url: '/cached/r' });
    const part = await app.request({ url: '/cached/r', headers: { range: 'bytes=0-4' } });
    assert.equal(part.status, 206);
    assert.equal(part.body, part.text);
    assert.equal(part.text.length, 5);
  });

  test('options', async () => {
    const file = writeProject(TOPOLOGY, { 'actors/echo.mjs': ECHO });
    const code = (options: unknown): Promise<string> => rejectionCode(startTopology(file, options as Parameters<typeof startTopology>[1]));
    assert.equal(await code({ clock: {} }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await code({ caches: 'redis' }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await code({ log: { level: 'loud' } }), 'ACTORRT_E_TEST_KIT');
    assert.equal(await code({ resources: { mail: null } }), 'ACTORRT_E_TEST_KIT');
    assert.throws(() => new TestClock(Number.NaN), RangeError);
    assert.throws(() => new TestClock().set(Number.POSITIVE_INFINITY), RangeError);
  });

  test('an init that never settles fails the start naming its pool; close cuts off a reply slower than http.shutdownTimeout', async (t) => {
    const hung = writeProject(TOPOLOGY, { 'actors/echo.mjs': 'export default { init: () => new Promise(() => {}), receive: () => ({}) };\n' });
    await assert.rejects(startTopology(hung, { startTimeout: 200 }),
      (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_TEST_KIT' && /echo/.test(err.message));
    const app = await started(t, TOPOLOGY.replace('version: 1\n', 'version: 1\nhttp: { shutdownTimeout: 200ms }\n').replace('size: 1 }', 'size: 1, timeout: 60s }'));
    const slow = app.request({ url: '/echo/slow' });
    await app.close();
    assert.equal(await rejectionCode(slow), 'ACTORRT_E_TEST_KIT');
  });
});

describe('testActor', () => {
  type Users = { readonly id: string; readonly name: string };
  type Ctx = ActorContext<{ readonly clock: { now(): number } }, 'profiles', { users: Users; audit: { ok: boolean } }>;
  const profiles = defineActor({
    init: (ctx: Ctx) => ({ served: 0, started: ctx.resources.clock.now() }),
    receive: async (state, req, ctx: Ctx) => {
      state.served += 1;
      const id = req.params['id'] ?? '0';
      const cached = await ctx.caches.profiles.get<Users>(id);
      if (cached !== undefined) return { body: { ...cached, cached: true } };
      const user = await ctx.ask('users', { id });
      await ctx.caches.profiles.set(id, user, '1m');
      ctx.log.info({ id }, 'profile built');
      if (req.query['audit'] === '1') await ctx.ask('audit', { id });
      return { body: { ...user, cached: false } };
    },
  });

  test('ctx.ask is answered by stubs or by other actors under test; an ask to any other pool rejects as in a topology', async (t) => {
    const users = await testActor(defineActor({ receive: (_s, req) => ({ body: { id: (req.body as { id: string }).id, name: 'Ada' } }) }));
    t.after(() => users.stop());
    const clock = new TestClock();
    const actor = await testActor(profiles, { resources: { clock }, asks: { users }, caches: { profiles: {} }, clock });
    t.after(() => actor.stop());
    const reply = await actor.receive({ params: { id: '7' } });
    assert.deepEqual(reply.body, { id: '7', name: 'Ada', cached: false });
    assert.deepEqual((await actor.receive({ params: { id: '7' } })).body, { id: '7', name: 'Ada', cached: true });
    clock.advance('61s');
    assert.deepEqual((await actor.receive({ params: { id: '7' } })).body, { id: '7', name: 'Ada', cached: false }, 'the entry expired');
    assert.deepEqual(actor.asked.map((a) => a.pool), ['users', 'users']);
    assert.equal(actor.state.served, 3);
    const line = actor.logs.find((l) => l.msg === 'profile built');
    assert.equal(line?.['id'], '7');
    assert.equal(typeof line?.['requestId'], 'string');
    await assert.rejects(actor.receive({ url: '/x?audit=1', params: { id: '8' } }), (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_UNKNOWN_POOL');
  });

  test('a stub function answers with what it returns and rejects with what it throws', async (t) => {
    const actor = await testActor(profiles, {
      resources: { clock: new TestClock() }, caches: { profiles: {} },
      asks: { users: ({ id }: { id: string }) => ({ id, name: `user ${id}` }), audit: () => { throw new ActorrtError('ACTORRT_E_TIMEOUT', 'audit is slow'); } },
    } as Parameters<typeof testActor<unknown, { clock: TestClock }>>[1]);
    t.after(() => actor.stop());
    assert.deepEqual((await actor.receive({ params: { id: '1' } })).body, { id: '1', name: 'user 1', cached: false });
    await assert.rejects(actor.receive({ url: '/p?audit=1', params: { id: '2' } }), /audit is slow/);
  });

  test('restart runs stop then init; stop twice is safe; receive after stop is refused; a module path loads like the runtime', async (t) => {
    const file = join(dirname(writeProject(TOPOLOGY, { 'actors/echo.mjs': ECHO })), 'actors', 'echo.mjs');
    const echo = await testActor<{ n: number }, Record<string, never>>(pathToFileURL(file));
    t.after(() => echo.stop());
    await echo.receive();
    await echo.receive({ method: 'POST', url: '/echo/x?q=1', body: { a: 1 } });
    assert.equal(echo.state.n, 2);
    await echo.restart();
    assert.equal(echo.state.n, 0);
    assert.deepEqual(echo.logs.map((l) => l.msg), ['echo init', 'echo', 'echo', 'echo stop', 'echo init']);
    await echo.stop();
    await echo.stop();
    assert.equal(await rejectionCode(echo.receive()), 'ACTORRT_E_TEST_KIT');
    await assert.rejects(testActor({ receive: () => 1, init: () => { throw new Error('init failed'); } } as unknown as Parameters<typeof testActor>[0]), /init failed/);
  });

  test('refuses what the runtime would refuse: a non-actor, a path not starting with /, a reply with no JSON form, an init that never settles', async (t) => {
    assert.equal(await rejectionCode(testActor({ hello: 1 } as unknown as Parameters<typeof testActor>[0])), 'ACTORRT_E_TEST_KIT');
    assert.equal(await rejectionCode(testActor(null as unknown as Parameters<typeof testActor>[0])), 'ACTORRT_E_TEST_KIT');
    assert.equal(await rejectionCode(testActor(defineActor({ init: () => new Promise<never>(() => {}), receive: () => 1 }), { initTimeout: 100 })), 'ACTORRT_E_TEST_KIT');
    const odd = await testActor(defineActor({ receive: (_s, req) => (req.path === '/big' ? { body: { n: 10n } } : { status: 99 }) }));
    t.after(() => odd.stop());
    assert.equal(await rejectionCode(odd.receive({ url: 'abc' })), 'ACTORRT_E_TEST_KIT');
    assert.equal(await rejectionCode(odd.receive({ path: '/big' })), 'ACTORRT_E_BAD_REPLY');
    assert.equal(await rejectionCode(odd.receive({ path: '/status' })), 'ACTORRT_E_BAD_REPLY');
    assert.equal(await rejectionCode(testActor(odd.actor, { caches: { c: { ttl: 0 } } })), 'ACTORRT_E_TEST_KIT');
  });
});

/** An upstream on a port of its own, answering with the path it saw. */
async function stubUpstream(t: { after(fn: () => unknown): void }): Promise<string> {
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ seen: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
