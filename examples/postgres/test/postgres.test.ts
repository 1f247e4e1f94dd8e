import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { ErrorBody } from 'actorrt';
import { startTopology, type TestTopology } from 'actorrt/testing';

/** As the actor returns it: node-pg reads a bigint id as a string. */
interface Note { id: string; title: string; body: string; created_at: string; updated_at: string }
interface Page { notes: Note[]; next: string | null }

// A schema of this run's own on the test server: the actors create their table in it, after() drops it.
const base = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `ex_${process.pid}`;
const inSchema = `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
const admin = new pg.Client({ connectionString: base });
let app: TestTopology | undefined;

before(async () => {
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  app = await startTopology(join(import.meta.dirname, '..', 'actorrt.yml'), { resources: { pg: { url: inSchema } } });
});

after(async () => {
  try {
    await app?.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
});

/** The running topology (started in before()). */
function notes(): TestTopology {
  assert.ok(app, 'the topology started');
  return app;
}

test('create, read, list, update and delete notes in PostgreSQL', async () => {
  const first = await notes().request<Note>({ method: 'POST', url: '/notes', body: { title: 'first', body: 'a' } });
  assert.equal(first.status, 201);
  const second = await notes().request<Note>({ method: 'POST', url: '/notes', body: { title: 'second' } });
  const id = first.body.id;

  assert.deepEqual((await notes().request<Note>({ url: `/notes/${id}` })).body, first.body);
  const page = await notes().request<Page>({ url: '/notes?limit=1' });
  assert.deepEqual(page.body.notes.map((n) => n.title), ['first']);
  const rest = await notes().request<Page>({ url: `/notes?after=${page.body.next}` });
  assert.deepEqual(rest.body.notes.map((n) => n.id), [second.body.id]);

  const put = await notes().request<Note>({ method: 'PUT', url: `/notes/${id}`, body: { title: 'renamed' } });
  assert.deepEqual([put.body.title, put.body.body], ['renamed', 'a']);
  assert.equal((await notes().request({ method: 'DELETE', url: `/notes/${id}` })).status, 204);
  assert.equal((await notes().request({ url: `/notes/${id}` })).status, 404);

  // The table is in this run's schema, nowhere else.
  const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.notes`);
  assert.equal(rows[0]?.n, '1');
});

test('bad input is 400 and an unknown id 404, with the actor\'s error codes', async () => {
  const cases: Array<[string, string, unknown, number, string]> = [
    ['POST', '/notes', { title: '' }, 400, 'BAD_NOTE'],
    ['PATCH', '/notes/1', [1], 400, 'BAD_NOTE'],
    ['GET', '/notes/abc', undefined, 400, 'BAD_ID'],
    ['DELETE', '/notes/999999', undefined, 404, 'NOTE_NOT_FOUND'],
  ];
  for (const [method, url, body, status, code] of cases) {
    const res = await notes().request<ErrorBody>({ method, url, body });
    assert.deepEqual([res.status, res.body.error.code], [status, code], `${method} ${url}`);
  }
});
