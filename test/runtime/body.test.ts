import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActorrtError } from '../../runtime/errors.js';
import { MAX_JSON_DEPTH, nestingDepth, parseBody } from '../../runtime/worker/body.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof ActorrtError ? err.code : String(err);
  }
}

test('JSON bodies: parsed; invalid UTF-8 and nesting past the bound are 400 BAD_JSON', () => {
  assert.deepEqual(parseBody(Buffer.from('{"a":[1,{"b":"ü"}]}'), 'application/json; charset=utf-8'), { a: [1, { b: 'ü' }] });
  assert.equal(codeOf(() => parseBody(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'application/json')), 'ACTORRT_E_BAD_JSON');
  const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`;
  assert.equal(codeOf(() => parseBody(Buffer.from(deep), 'application/json')), 'ACTORRT_E_BAD_JSON');
  const atLimit = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
  assert.ok(Array.isArray(parseBody(Buffer.from(atLimit), 'application/vnd.api+json')));
  assert.equal(codeOf(() => parseBody(Buffer.from('{"a":'), 'application/json')), 'ACTORRT_E_BAD_JSON');
  assert.ok(Buffer.isBuffer(parseBody(Buffer.from([0xff]), 'application/octet-stream')), 'other types stay bytes');
});

test('nesting depth ignores brackets inside strings and counts wide documents as shallow', () => {
  const wide = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ i, tags: ['[', '{'] })));
  assert.equal(nestingDepth(wide, 8), 3);
  assert.equal(nestingDepth('"[[[[[[[[[[[[[[["', 4), 0);
  assert.equal(nestingDepth(`{"a":"\\"[[[[[[[["}`, 4), 1, 'an escaped quote does not end the string');
  assert.equal(nestingDepth(`${'['.repeat(50)}`, 10), 11, 'counted only up to limit + 1');
});
