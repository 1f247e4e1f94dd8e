import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { ErrorBody } from 'actorrt';
import { startTopology, TestClock, type TestTopology } from 'actorrt/testing';

/**
 * The topology the Kubernetes manifests run, in-process: DATABASE_URL comes from a Secret in the
 * pod; here `env` gives it, pointing at a schema of this run's own on the test server. The bus
 * (Redis) is about several pods and is not run by the kit; the memory cache and its invalidation are.
 */
interface Note { id: string; title: string }

const base = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `k8s_${process.pid}`;
const admin = new pg.Client({ connectionString: base });
const clock = new TestClock();
let app: TestTopology | undefined;

before(async () => {
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  app = await startTopology(new URL('../actorrt.yml', import.meta.url), { env: { ...process.env, DATABASE_URL: url }, clock });
});

after(async () => {
  try {
    await app?.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
});

function notes(): TestTopology {
  assert.ok(app, 'the topology started');
  return app;
}

test('a note is cached for 30 s, and an edit drops it from the cache at once', async () => {
  const created = await notes().request<Note>({ method: 'POST', url: '/notes', body: { title: 'pod' } });
  assert.equal(created.status, 201);
  const url = `/notes/${created.body.id}`;
  assert.equal((await notes().request({ url })).headers['x-cache'], 'MISS');
  assert.equal((await notes().request({ url })).headers['x-cache'], 'HIT');
  await notes().request({ method: 'PATCH', url, body: { title: 'renamed' } });
  const edited = await notes().request<Note>({ url });
  assert.equal(edited.headers['x-cache'], 'MISS');
  assert.equal(edited.body.title, 'renamed');
  clock.advance('31s');
  assert.equal((await notes().request({ url })).headers['x-cache'], 'MISS', 'past the route ttl');
});

test('the limits of the manifests\' topology hold: a body past 64kb is 413; readiness answers for the kubelet', async () => {
  const big = await notes().request<ErrorBody>({ method: 'POST', url: '/notes', body: { title: 'x'.repeat(70_000) } });
  assert.equal(big.status, 413);
  assert.equal(big.body.error.code, 'ACTORRT_E_BODY_TOO_LARGE');
  assert.equal((await notes().request({ url: '/readyz' })).status, 200);
  assert.equal((await notes().request({ url: '/healthz' })).status, 200);
});
