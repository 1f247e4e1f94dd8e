import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineActor, errorReply, type ActorContext, type AskReply, type ErrorReply, type SqliteDatabase } from '../../actors/index.js';
import { testActor } from '../../testing/index.js';

// Checked by the compiler (npm test builds with tsc first): a wrong type here fails the build.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

const users = defineActor({
  init: () => ({ served: 0 }),
  receive: (state, req) => {
    state.served += 1;
    if (req.params['id'] === '0') return errorReply(req, 404, 'USER_NOT_FOUND', 'no user 0');
    return { status: 200, body: { id: req.params['id'] ?? '', name: 'Ada' } };
  },
});

type Ctx = ActorContext<{ db: SqliteDatabase }, 'notes', { users: AskReply<typeof users> }>;
const notes = defineActor({
  init: (ctx: Ctx) => ({ db: ctx.resources.db }),
  receive: async (_state, req, ctx: Ctx) => {
    const user = await ctx.ask('users', { id: req.params['id'] });
    expectType<Equal<typeof user, { id: string; name: string } | ErrorReply<'USER_NOT_FOUND'>['body']>>();
    await ctx.caches.notes.set('k', 1);
    return { body: user };
  },
});

/** Compiled, never run: what an editor refuses in an actor declaring Ctx. */
export async function refusedByTheCompiler(ctx: Ctx): Promise<void> {
  // @ts-expect-error a cache the actor did not declare
  void ctx.caches.sessions;
  // @ts-expect-error a pool the actor does not ask
  await ctx.ask('billing', {});
  const typed = await ctx.ask<number>('users', {});
  expectType<Equal<typeof typed, number>>();
}

test('errorReply keeps its code as a literal type and refuses codes that are not UPPER_SNAKE_CASE', () => {
  const reply = errorReply({ requestId: 'r1' }, 409, 'NOTE_EXISTS', 'note 7 exists');
  expectType<Equal<typeof reply.body.error.code, 'NOTE_EXISTS'>>();
  assert.deepEqual(reply, { status: 409, body: { error: { code: 'NOTE_EXISTS', message: 'note 7 exists', requestId: 'r1' } } });
  // @ts-expect-error lower case
  errorReply({ requestId: 'r1' }, 404, 'not found', 'x');
  // @ts-expect-error not an error status
  errorReply({ requestId: 'r1' }, 200, 'OK', 'x');
});

test("testActor types resources, caches and asks from the actor's declaration, and the reply from what receive returns", async () => {
  const u = await testActor(users);
  const reply = await u.receive({ params: { id: '7' } });
  expectType<Equal<typeof reply.body, { id: string; name: string } | ErrorReply<'USER_NOT_FOUND'>['body']>>();
  assert.deepEqual(reply.body, { id: '7', name: 'Ada' });
  assert.equal(u.state.served, 1);
  await u.stop();
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(':memory:');
  try {
    // @ts-expect-error the actor declares db, not pg
    await testActor(notes, { resources: { pg: db } }).then((a) => a.stop(), () => undefined);
    const n = await testActor(notes, { resources: { db }, caches: { notes: {} }, asks: { users: () => ({ id: '1', name: 'Ada' }) } });
    assert.deepEqual((await n.receive({ params: { id: '1' } })).body, { id: '1', name: 'Ada' });
    assert.deepEqual(n.asked, [{ pool: 'users', message: { id: '1' }, options: {} }]);
    await n.stop();
  } finally {
    db.close();
  }
});
