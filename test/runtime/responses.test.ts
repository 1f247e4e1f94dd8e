import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActorrtError } from '../../runtime/errors.js';
import { toReply } from '../../runtime/reply.js';

test('treats { status, headers, body } as a reply and anything else as a 200 body', () => {
  assert.deepEqual(toReply({ status: 201, body: { id: 1 } }), { status: 201, headers: {}, body: { id: 1 } });
  assert.deepEqual(toReply({ id: 1 }), { status: 200, headers: {}, body: { id: 1 } });
  assert.deepEqual(toReply({ status: 'ok', count: 2 }), { status: 200, headers: {}, body: { status: 'ok', count: 2 } });
  assert.deepEqual(toReply([1, 2]), { status: 200, headers: {}, body: [1, 2] });
  assert.deepEqual(toReply(undefined), { status: 200, headers: {}, body: undefined });
  assert.deepEqual(toReply('hi'), { status: 200, headers: {}, body: 'hi' });
});

test('rejects a reply status outside 100-599 with a coded error', () => {
  assert.throws(() => toReply({ status: 99 }), (e: unknown) => e instanceof ActorrtError && e.code === 'ACTORRT_E_BAD_REPLY');
  assert.throws(() => toReply({ status: 200.5 }), (e: unknown) => e instanceof ActorrtError && e.code === 'ACTORRT_E_BAD_REPLY');
});
