import assert from 'node:assert/strict';
import { test } from 'node:test';
import { didYouMean } from '../../config/hints.js';
import { parseKeyTemplate } from '../../config/key-template.js';
import { parsePathPattern } from '../../config/route-path.js';
import { parseDuration, parseSize } from '../../config/units.js';

test('parses durations in every unit, and plain numbers as milliseconds', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration(42), 42);
  assert.equal(parseDuration('10 sec'), undefined);
  assert.equal(parseDuration(-1), undefined);
  assert.equal(parseDuration('s'), undefined);
});

test('parses sizes in every unit, case-insensitively, and plain numbers as bytes', () => {
  assert.equal(parseSize('512kb'), 524_288);
  assert.equal(parseSize('1mb'), 1_048_576);
  assert.equal(parseSize('1MB'), 1_048_576);
  assert.equal(parseSize('2gb'), 2 * 1024 ** 3);
  assert.equal(parseSize('100b'), 100);
  assert.equal(parseSize(2048), 2048);
  assert.equal(parseSize(1.5), undefined);
  assert.equal(parseSize('1 megabyte'), undefined);
});

test('suggests a close name and stays quiet for a far one', () => {
  assert.equal(didYouMean('sise', ['size', 'actor', 'processes']), 'did you mean "size"?');
  assert.equal(didYouMean('get', ['GET', 'POST']), 'did you mean "GET"?');
  assert.equal(didYouMean('banana', ['size', 'actor']), undefined);
  assert.equal(didYouMean('x', []), undefined);
});

test('parses route path patterns and erases parameter names in the shape', () => {
  assert.deepEqual(parsePathPattern('/users/:id/posts/:post'), { params: ['id', 'post'], shape: '/users/:/posts/:' });
  assert.deepEqual(parsePathPattern('/files/*'), { params: ['*'], shape: '/files/*' });
  assert.deepEqual(parsePathPattern('/'), { params: [], shape: '/' });
  assert.ok('error' in parsePathPattern('/a/:1d'));
  assert.ok('error' in parsePathPattern('/a/x:id'));
  assert.ok('error' in parsePathPattern('/a?b=1'));
});

test('parses cache key templates into text and fields', () => {
  assert.deepEqual(parseKeyTemplate('user:{params.id}:{query.v}'), [
    { kind: 'text', text: 'user:' }, { kind: 'field', source: 'params', name: 'id' },
    { kind: 'text', text: ':' }, { kind: 'field', source: 'query', name: 'v' },
  ]);
  assert.deepEqual(parseKeyTemplate('{method} {path}'), [{ kind: 'request', name: 'method' }, { kind: 'text', text: ' ' }, { kind: 'request', name: 'path' }]);
  assert.ok('error' in parseKeyTemplate('user:{params.id'));
  assert.ok('error' in parseKeyTemplate('user:}'));
  assert.ok('error' in parseKeyTemplate('{cookie.x}'));
});
