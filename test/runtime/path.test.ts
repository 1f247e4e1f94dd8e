import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveDotSegments } from '../../runtime/worker/path.js';

test('dot segments are resolved, encoded ones too; a path that climbs above the root is refused', () => {
  assert.equal(resolveDotSegments('/files/a.txt'), '/files/a.txt');
  assert.equal(resolveDotSegments('/files/../admin'), '/admin');
  assert.equal(resolveDotSegments('/files/./a/./b'), '/files/a/b');
  assert.equal(resolveDotSegments('/files/%2e%2e/admin'), '/admin');
  assert.equal(resolveDotSegments('/files/%2E%2e/%2e/x'), '/x');
  assert.equal(resolveDotSegments('/files/a/..'), '/files/');
  assert.equal(resolveDotSegments('/files/..'), '/');
  assert.equal(resolveDotSegments('/..'), undefined);
  assert.equal(resolveDotSegments('/files/../../etc/passwd'), undefined);
  assert.equal(resolveDotSegments('/files/%2e%2e/%2e%2e/etc/passwd'), undefined);
  assert.equal(resolveDotSegments('/files/..a/b.'), '/files/..a/b.', 'dots inside a segment are not dot segments');
  assert.equal(resolveDotSegments('/.well-known/x'), '/.well-known/x');
});

test('a segment hiding .. behind an encoded slash or a backslash is refused; an encoded slash alone is kept', () => {
  assert.equal(resolveDotSegments('/files/..%2f..%2fetc/passwd'), undefined);
  assert.equal(resolveDotSegments('/files/%2e%2e%2Fadmin'), undefined);
  assert.equal(resolveDotSegments('/files/..\\..\\etc'), undefined);
  assert.equal(resolveDotSegments('/files/a%5c..%5cb'), undefined);
  assert.equal(resolveDotSegments('/files/a%2fb'), '/files/a%2fb', 'an encoded slash inside an id is not a climb');
  assert.equal(resolveDotSegments('/files/a\\b'), '/files/a\\b');
});
