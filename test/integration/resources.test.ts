import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { eventually, logsWith, tempDir, writeProject } from '../helpers.js';
import { call, callFresh, errorOf, resourceStatus, runCli, startInstance, type Answer } from './instance.js';
import { needServer, POSTGRES_URL, REDIS_URL, Relay } from './services.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Poll `url` until it answers `status` (a resource coming back); fails after `within` ms. */
async function until(url: string, status: number, within: number, method: 'GET' | 'POST' = 'GET'): Promise<Answer> {
  let last: Answer | undefined;
  await eventually(`${method} ${url} answers ${status}`, async () => {
    last = await call(url, { method });
    return last.status === status;
  }, within, () => `${last?.status ?? '-'} ${last?.text ?? ''}`, 100);
  return last as Answer;
}

function address(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

describe('sqlite: the crud-sqlite example', () => {
  test('create, list, read, update and delete notes across two workers', { timeout: 60_000 }, async (t) => {
    const db = join(tempDir('sqlite'), 'notes.db');
    const app = await startInstance('examples/crud-sqlite/actorrt.yml', ['--workers', '2'], t, { NOTES_DB: db });
    const created = await call(`${app.url}/notes`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ title: 'first', body: 'hello' }) });
    assert.equal(created.status, 201);
    const note = created.json as { id: number; title: string; body: string };
    assert.deepEqual([note.title, note.body], ['first', 'hello']);

    // Written by one worker, read on fresh connections (either worker): WAL makes it visible to all.
    for (let i = 0; i < 6; i++) assert.equal(((await callFresh(app.url, `/notes/${note.id}`)).json as { title: string }).title, 'first');

    await call(`${app.url}/notes`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ title: 'second' }) });
    const page = (await call(`${app.url}/notes?limit=1`)).json as { notes: Array<{ id: number }>; next: number };
    assert.deepEqual(page.notes.map((n) => n.id), [note.id]);
    const rest = (await call(`${app.url}/notes?after=${page.next}`)).json as { notes: Array<{ title: string }>; next: null };
    assert.deepEqual(rest.notes.map((n) => n.title), ['second']);

    const patched = await call(`${app.url}/notes/${note.id}`, { method: 'PATCH', headers: JSON_HEADERS, body: JSON.stringify({ body: 'changed' }) });
    assert.deepEqual([patched.status, (patched.json as { title: string; body: string }).body], [200, 'changed']);
    // Reads are cached per worker; the PATCH removed the note from both before it answered.
    for (let i = 0; i < 6; i++) {
      const read = await callFresh(app.url, `/notes/${note.id}`);
      assert.equal((read.json as { body: string }).body, 'changed', `read ${i + 1} (x-cache ${String(read.headers['x-cache'])})`);
    }
    const listed = (await call(`${app.url}/notes?limit=1`)).json as { notes: Array<{ body: string }> };
    assert.equal(listed.notes[0]?.body, 'changed', 'the cached list page was invalidated too');
    assert.equal((await call(`${app.url}/notes`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ title: '' }) })).status, 400);
    const badId = await call(`${app.url}/notes/abc`, { headers: { 'x-request-id': 'trace-42' } });
    assert.equal(badId.status, 400);
    assert.deepEqual(badId.json, { error: { code: 'BAD_ID', message: 'id must be a positive integer', requestId: 'trace-42' } },
      "an actor's own error has the shape and request id of actorrt's (errorReply)");
    assert.equal((await call(`${app.url}/notes/${note.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await call(`${app.url}/notes/${note.id}`)).status, 404);
    assert.equal(await app.stop(), 0);
  });

  test('a failing init script stops start-up with exit 1, naming the resource', { timeout: 60_000 }, async () => {
    const file = writeProject(`version: 1
resources:
  db: { type: sqlite, file: ./data/x.db, init: ./schema.sql }
pools:
  api: { actor: ./actors/api.ts, resources: [db] }
routes:
  - match: { path: /x }
    pool: api
`, { 'schema.sql': 'CREAT TABLE nope (id int);\n' });
    const { code, stderr } = await runCli(['start', file, '--port', '0', '--workers', '1']);
    assert.equal(code, 1);
    assert.match(stderr, /ACTORRT_E_RESOURCE_FAILED {2}resource "db" \(sqlite:.*x\.db\) failed to open: near "CREAT": syntax error/);
  });
});

const PG_ACTOR = `export default {
  receive: async (_s, req, ctx) => {
    const pg = ctx.resources.pg;
    if (req.params.what === 'sleep') await pg.query('SELECT pg_sleep(0.3)');
    const { rows } = await pg.query('SELECT 1 AS one');
    return { one: rows[0].one, pid: process.pid };
  },
};
`;

function pgTopology(url: string, extra: { processes?: number; max?: number; name?: string; retries?: number; statementTimeout?: string } = {}): string {
  const name = extra.name ?? 'pg';
  return writeProject(`version: 1
resources:
  ${name}: { type: postgres, url: "${url}", max: ${extra.max ?? 5}, connectTimeout: 1s, startup: { retries: ${extra.retries ?? 0}, delay: 100ms }${extra.statementTimeout === undefined ? '' : `, statementTimeout: ${extra.statementTimeout}`} }
pools:
  db:
    actor: ./actors/pg.mjs
    size: 8
    ${extra.processes === undefined ? '' : `processes: ${extra.processes}`}
    resources: [${name}]
routes:
  - match: { method: GET, path: /pg/:what }
    pool: db
`, { 'actors/pg.mjs': PG_ACTOR.replaceAll('ctx.resources.pg', `ctx.resources.${name}`) });
}

describe('postgres', () => {
  test('the postgres example serves the same notes API', { timeout: 60_000 }, async (t) => {
    if (!await needServer(t, POSTGRES_URL)) return;
    const app = await startInstance('examples/postgres/actorrt.yml', ['--workers', '2'], t, { DATABASE_URL: POSTGRES_URL });
    const created = await call(`${app.url}/notes`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ title: 'on pg' }) });
    assert.equal(created.status, 201);
    const { id } = created.json as { id: string };
    assert.equal(((await call(`${app.url}/notes/${id}`)).json as { title: string }).title, 'on pg');
    assert.equal((await call(`${app.url}/notes/${id}`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ title: 'renamed' }) })).status, 200);
    assert.equal((await call(`${app.url}/notes/${id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await call(`${app.url}/notes/${id}`)).status, 404);
    assert.equal(await app.stop(), 0);
  });

  test('an isolated pool process reports its unreachable resource to actorrt status too', { timeout: 60_000 }, async (t) => {
    if (!await needServer(t, POSTGRES_URL)) return;
    const relay = new Relay(address(POSTGRES_URL));
    await relay.open();
    t.after(() => relay.cut());
    const app = await startInstance(pgTopology(relay.url(POSTGRES_URL), { processes: 1 }), ['--workers', '1'], t);
    assert.equal((await call(`${app.url}/pg/one`)).status, 200);
    await relay.cut();
    assert.equal((await call(`${app.url}/pg/one`)).status, 503);
    const seen = await resourceStatus(app, 'pg');
    assert.equal(seen.resource?.state, 'unavailable');
    assert.deepEqual(seen.resource?.unavailableIn, ['db process 0']);
    await relay.open();
    await until(`${app.url}/pg/one`, 200, 10_000);
    assert.equal(await app.stop(), 0);
  });

  test('a statement past statementTimeout answers 504 RESOURCE_TIMEOUT; the actor is not restarted', { timeout: 60_000 }, async (t) => {
    if (!await needServer(t, POSTGRES_URL)) return;
    const app = await startInstance(pgTopology(POSTGRES_URL, { statementTimeout: '100ms' }), ['--workers', '1'], t);
    const slow = await Promise.all(Array.from({ length: 12 }, () => call(`${app.url}/pg/sleep`))); // pg_sleep(0.3)
    for (const answer of slow) {
      assert.equal(answer.status, 504);
      assert.equal(errorOf(answer).code, 'ACTORRT_E_RESOURCE_TIMEOUT');
      assert.match(errorOf(answer).message, /^a statement on resource "pg" \(postgres:\/\/postgres@127\.0\.0\.1:5432\/test\) ran past its statementTimeout \(100 ms\) and was cancelled$/);
    }
    assert.equal((await call(`${app.url}/pg/one`)).status, 200);
    const { stdout } = await runCli(['status', '--pid-file', app.pidFile, '--json']);
    const status = JSON.parse(stdout) as { pools: Array<{ name: string; state: string; supervision: Record<string, number> }> };
    const pool = status.pools.find((p) => p.name === 'db');
    assert.equal(pool?.state, 'up', 'more slow statements than maxRestarts did not give the pool up');
    assert.equal(pool?.supervision['actor-restart'], 0);
    assert.equal(await app.stop(), 0);
  });

  test('each process has its own pool: processes 2 x max 5 never exceeds 10 connections', { timeout: 60_000 }, async (t) => {
    if (!await needServer(t, POSTGRES_URL)) return;
    const name = `pgcount${process.pid}`;
    const app = await startInstance(pgTopology(POSTGRES_URL, { processes: 2, max: 5, name }), ['--workers', '1'], t);
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    t.after(() => admin.end());
    const count = async (): Promise<number> => {
      const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [`actorrt:${name}`]);
      return Number(rows[0]?.n);
    };
    // 2 processes x 8 actors each want a connection at once; each process's pool caps at 5.
    const load = Promise.all(Array.from({ length: 48 }, () => call(`${app.url}/pg/sleep`)));
    let loading = true;
    load.then(() => { loading = false; }, () => { loading = false; });
    // Sampled for as long as the load runs (48 statements of 0.3 s over at most 10 connections).
    let peak = 0;
    while (loading) {
      peak = Math.max(peak, await count());
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const answers = await load;
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    assert.equal(new Set(answers.map((a) => (a.json as { pid: number }).pid)).size, 2, 'both pool processes served');
    assert.equal(peak, 10, 'both processes filled their pool of 5, and no more');
    assert.equal(await app.stop(), 0);
    assert.equal(await count(), 0, 'every connection closed on stop');
  });

  test('unreachable at start-up: exit 1 after the retries, naming the resource with a redacted address', { timeout: 60_000 }, async () => {
    const relay = new Relay({ host: '127.0.0.1', port: 9 });
    await relay.open();
    await relay.cut(); // a port that was just free, and refuses connections now
    const url = `postgres://app:hunter2@127.0.0.1:${relay.port}/app`;
    // runCli fails the test if start-up does not give up (exit) on its own within its deadline.
    const { code, stderr } = await runCli(['start', pgTopology(url, { retries: 2 }), '--port', '0', '--workers', '1']);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`ACTORRT_E_RESOURCE_UNREACHABLE  resource "pg" \\(postgres://app@127\\.0\\.0\\.1:${relay.port}/app\\) unreachable: ECONNREFUSED`));
    assert.match(stderr, /tried 3 times/);
    assert.doesNotMatch(stderr, /hunter2/, 'the password is never printed');
  });

  test('a database that goes away answers 503 RESOURCE_UNAVAILABLE, and serves again once it is back', { timeout: 60_000 }, async (t) => {
    if (!await needServer(t, POSTGRES_URL)) return;
    const relay = new Relay(address(POSTGRES_URL));
    await relay.open();
    t.after(() => relay.cut());
    const app = await startInstance(pgTopology(relay.url(POSTGRES_URL)), ['--workers', '1'], t);
    assert.equal((await call(`${app.url}/pg/one`)).status, 200);

    await relay.cut();
    const down = await call(`${app.url}/pg/one`);
    assert.equal(down.status, 503);
    assert.equal(errorOf(down).code, 'ACTORRT_E_RESOURCE_UNAVAILABLE');
    assert.match(errorOf(down).message, /resource "pg" \(postgres:\/\/postgres@127\.0\.0\.1:\d+\/test\) is unavailable/);
    for (let i = 0; i < 5; i++) assert.equal((await call(`${app.url}/pg/one`)).status, 503, 'failures are not actor crashes: the pool is not given up');
    const seen = await resourceStatus(app, 'pg');
    assert.equal(seen.code, 1, 'actorrt status exits 1 while a resource is unavailable');
    assert.equal(seen.resource?.state, 'unavailable');
    assert.deepEqual(seen.resource?.unavailableIn, ['worker 0']);
    assert.match(seen.resource?.address ?? '', /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/test$/);
    assert.ok((seen.resource?.error ?? '') !== '', 'with the reason');
    const text = await runCli(['status', '--pid-file', app.pidFile]);
    assert.match(text.stdout, /\nresources:\n {2}pg {15}unavailable postgres postgres:\/\/postgres@127\.0\.0\.1:\d+\/test\n {6}unavailable in worker 0 since \d{4}-[^:]+:\d\d:[\d.]+Z: \S/);

    await relay.open();
    await until(`${app.url}/pg/one`, 200, 10_000);
    assert.equal(logsWith(app.stderr(), { event: 'resource-down', resource: 'pg', address: /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/test$/ }).length, 1,
      'the outage is logged once, with the redacted address');
    // The recovery probe runs every second; status follows it.
    let back = await resourceStatus(app, 'pg');
    await eventually('status shows "pg" available again', async () => {
      back = await resourceStatus(app, 'pg');
      return back.resource?.state === 'available';
    }, 10_000, () => JSON.stringify(back.resource), 100);
    assert.equal(back.code, 0);
    assert.equal(await app.stop(), 0);
  });
});

const REDIS_ACTOR = `export default {
  receive: async (_s, req, ctx) => ({ n: await ctx.resources.cache.incr(req.params.key) }),
};
`;

function redisTopology(url: string, retries = 0): string {
  return writeProject(`version: 1
resources:
  cache: { type: redis, url: "${url}", connectTimeout: 1s, startup: { retries: ${retries}, delay: 100ms } }
pools:
  counter: { actor: ./actors/redis.mjs, size: 2, resources: [cache] }
routes:
  - match: { method: POST, path: /incr/:key }
    pool: counter
`, { 'actors/redis.mjs': REDIS_ACTOR });
}

describe('redis', () => {
  test('actors use the client; an outage answers 503 and the client reconnects on its own', { timeout: 60_000 }, async (t) => {
    if (!await needServer(t, REDIS_URL)) return;
    const relay = new Relay(address(REDIS_URL));
    await relay.open();
    t.after(() => relay.cut());
    const app = await startInstance(redisTopology(relay.url(REDIS_URL)), ['--workers', '1'], t);
    const key = `actorrt-test-${process.pid}-${Date.now()}`;
    const incr = (): Promise<Answer> => call(`${app.url}/incr/${key}`, { method: 'POST' });
    assert.deepEqual((await incr()).json, { n: 1 });
    assert.deepEqual((await incr()).json, { n: 2 });

    await relay.cut();
    const down = await incr();
    assert.equal(down.status, 503);
    assert.equal(errorOf(down).code, 'ACTORRT_E_RESOURCE_UNAVAILABLE');
    assert.match(errorOf(down).message, /resource "cache" \(redis:\/\/127\.0\.0\.1:\d+\) is unavailable/);

    await relay.open();
    const answer = await until(`${app.url}/incr/${key}`, 200, 15_000, 'POST');
    assert.ok((answer.json as { n: number }).n >= 3, 'the key kept its value: same server');
    assert.equal(await app.stop(), 0);
  });

  test('unreachable at start-up: exit 1 naming the resource', { timeout: 60_000 }, async () => {
    const relay = new Relay({ host: '127.0.0.1', port: 9 });
    await relay.open();
    await relay.cut();
    const { code, stderr } = await runCli(['start', redisTopology(`redis://:topsecret@127.0.0.1:${relay.port}`, 1), '--port', '0', '--workers', '1']);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`ACTORRT_E_RESOURCE_UNREACHABLE  resource "cache" \\(redis://127\\.0\\.0\\.1:${relay.port}\\) unreachable: ECONNREFUSED`));
    assert.doesNotMatch(stderr, /topsecret/);
  });
});
