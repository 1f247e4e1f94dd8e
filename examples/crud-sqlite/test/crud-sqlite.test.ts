import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { ErrorBody } from 'actorrt';
import { startTopology, TestClock, type TestTopology } from 'actorrt/testing';

interface Note { id: number; title: string; body: string; created_at: string; updated_at: string }
interface Page { notes: Note[]; next: number | null }

const topology = join(import.meta.dirname, '..', 'actorrt.yml');

/** examples/crud-sqlite in this process, on an in-memory SQLite database of its own (schema.sql runs at open). */
async function notes(t: TestContext, clock?: TestClock): Promise<TestTopology> {
  const app = await startTopology(topology, { resources: { db: { file: ':memory:' } }, ...(clock ? { clock } : {}) });
  t.after(() => app.close());
  return app;
}

test('create, read, list, update and delete a note; bad input is 400, an unknown id 404', async (t) => {
  const app = await notes(t);
  const created = await app.request<Note>({ method: 'POST', url: '/notes', body: { title: 'first', body: 'a' } });
  assert.equal(created.status, 201);
  assert.equal(created.body.title, 'first');
  const id = created.body.id;
  await app.request({ method: 'POST', url: '/notes', body: { title: 'second' } });

  assert.deepEqual((await app.request<Note>({ url: `/notes/${id}` })).body, created.body);
  const page = await app.request<Page>({ url: '/notes?limit=1' });
  assert.deepEqual(page.body.notes.map((n) => n.title), ['first']);
  assert.equal(page.body.next, id);
  const rest = await app.request<Page>({ url: `/notes?after=${id}` });
  assert.deepEqual(rest.body.notes.map((n) => n.title), ['second']);

  const patched = await app.request<Note>({ method: 'PATCH', url: `/notes/${id}`, body: { body: 'changed' } });
  assert.deepEqual([patched.body.title, patched.body.body], ['first', 'changed']);
  assert.equal((await app.request({ method: 'DELETE', url: `/notes/${id}` })).status, 204);
  const gone = await app.request<ErrorBody>({ url: `/notes/${id}` });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.code, 'NOTE_NOT_FOUND');

  assert.equal((await app.request<ErrorBody>({ method: 'POST', url: '/notes', body: { title: '' } })).body.error.code, 'BAD_NOTE');
  assert.equal((await app.request<ErrorBody>({ url: '/notes/abc' })).body.error.code, 'BAD_ID');
});

test('reads are cached (X-Cache MISS then HIT) and a write invalidates the note and every list page', async (t) => {
  const app = await notes(t);
  await app.request({ method: 'POST', url: '/notes', body: { title: 'first' } });
  const xCache = async (url: string): Promise<unknown> => (await app.request({ url })).headers['x-cache'];

  assert.equal(await xCache('/notes/1'), 'MISS');
  assert.equal(await xCache('/notes/1'), 'HIT');
  assert.equal(await xCache('/notes?limit=5'), 'MISS');
  assert.equal(await xCache('/notes?limit=5'), 'HIT');

  await app.request({ method: 'PATCH', url: '/notes/1', body: { title: 'renamed' } });
  const note = await app.request<Note>({ url: '/notes/1' });
  assert.equal(note.headers['x-cache'], 'MISS');
  assert.equal(note.body.title, 'renamed');
  const page = await app.request<Page>({ url: '/notes?limit=5' });
  assert.equal(page.headers['x-cache'], 'MISS');
  assert.equal(page.body.notes[0]?.title, 'renamed');

  await app.request({ method: 'POST', url: '/notes', body: { title: 'second' } });
  assert.equal(await xCache('/notes?limit=5'), 'MISS', 'a new note invalidates the list pages');
  assert.equal(await xCache('/notes/1'), 'HIT', 'but not the notes themselves');
});

test('cached replies expire after their ttl: 5s for list pages, 30s (the cache\'s) for a note', async (t) => {
  const clock = new TestClock();
  const app = await notes(t, clock);
  await app.request({ method: 'POST', url: '/notes', body: { title: 'first' } });
  await app.request({ url: '/notes/1' });
  await app.request({ url: '/notes' });

  clock.advance('4s');
  assert.equal((await app.request({ url: '/notes' })).headers['x-cache'], 'HIT');
  clock.advance('2s');
  assert.equal((await app.request({ url: '/notes' })).headers['x-cache'], 'MISS');

  const aged = await app.request({ url: '/notes/1' });
  assert.deepEqual([aged.headers['x-cache'], aged.headers.age], ['HIT', '6']);
  clock.advance('25s');
  assert.equal((await app.request({ url: '/notes/1' })).headers['x-cache'], 'MISS');
});
