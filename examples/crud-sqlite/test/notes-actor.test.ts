import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { testActor } from 'actorrt/testing';
import notesActor from '../actors/notes.ts';

const schema = join(import.meta.dirname, '..', 'schema.sql');

test('the notes actor alone (testActor): its own in-memory database with schema.sql, no topology', async (t) => {
  const db = new Database(':memory:');
  t.after(() => db.close());
  db.exec(readFileSync(schema, 'utf8'));
  const actor = await testActor(notesActor, { resources: { db } });
  t.after(() => actor.stop());

  const created = await actor.receive({ method: 'POST', path: '/notes', body: { title: 'unit' } });
  assert.equal(created.status, 201);
  assert.equal(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM notes').get()?.n, 1);

  const read = await actor.receive({ method: 'GET', path: '/notes/1', params: { id: '1' } });
  assert.deepEqual(read.body, created.body);
  const missing = await actor.receive({ method: 'GET', path: '/notes/9', params: { id: '9' } });
  assert.equal(missing.status, 404);
  const bad = await actor.receive({ method: 'PUT', path: '/notes/1', params: { id: '1' }, body: [1] });
  assert.equal(bad.status, 400);
});
