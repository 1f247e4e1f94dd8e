import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileInvalidation, compileKey, invalidates, renderInvalidation, varySuffix, type KeySource } from '../../../runtime/cache/keys.js';

const req: KeySource = {
  method: 'GET',
  path: '/users/7',
  url: '/users/7?page=2&tag=a&tag=b',
  params: { id: '7' },
  query: { page: '2', tag: ['a', 'b'] },
  headers: { 'accept-language': 'fr', 'x-tenant': 'acme' },
  body: { owner: 'ann', n: 3 },
};

test('key templates render params, query, headers (either spelling, any case), body fields, method and path', () => {
  assert.equal(compileKey('user:{params.id}')(req), 'user:7');
  assert.equal(compileKey('list:{query.page}:{query.tag}')(req), 'list:2:a,b');
  assert.equal(compileKey('{header.Accept-Language}|{headers.x-tenant}')(req), 'fr|acme');
  assert.equal(compileKey('{method} {path}')(req), 'GET /users/7');
  assert.equal(compileKey('{method}:{url}')(req), 'GET:/users/7?page=2&tag=a&tag=b', '{url} is the path with the query string as sent');
  assert.equal(compileKey('owner:{body.owner}:{body.n}')(req), 'owner:ann:3');
  assert.equal(compileKey('static')(req), 'static');
});

test('a value the request lacks renders empty, never "undefined"', () => {
  assert.equal(compileKey('q:{query.missing}:{header.missing}:{body.missing}')({ ...req, body: undefined }), 'q:::');
});

test('vary appends each listed header value, so variants of one key share its prefix', () => {
  const suffix = varySuffix(['accept-language', 'x-missing'], req.headers);
  assert.equal(suffix, '#accept-language=fr#x-missing=');
  assert.notEqual(varySuffix(['accept-language'], { 'accept-language': 'de' }), varySuffix(['accept-language'], req.headers));
});

test('invalidation patterns: exact keys take their vary variants, a trailing * is a prefix', () => {
  const inv = renderInvalidation([compileInvalidation('user:{params.id}'), compileInvalidation('users:*')], req);
  assert.deepEqual(inv, { keys: ['user:7'], prefixes: ['users:'] });
  assert.ok(invalidates(inv, 'user:7'));
  assert.ok(invalidates(inv, 'user:7#accept-language=fr'));
  assert.ok(!invalidates(inv, 'user:70'), 'an exact key is not a prefix');
  assert.ok(invalidates(inv, 'users:page:2'));
  assert.ok(!invalidates(inv, 'user:8'));
});

test('an invalidation limited to some stores leaves the others alone', () => {
  const inv = { keys: ['k'], prefixes: [], stores: ['a'] };
  assert.ok(invalidates(inv, 'k', 'a'));
  assert.ok(!invalidates(inv, 'k', 'b'));
  assert.ok(invalidates(inv, 'k'), 'without a store name, the keys decide');
});

test('names like Object.prototype members render what the request holds under them, never an inherited function', () => {
  // node:http's headers object has Object.prototype; a JSON body too. Only own values count.
  const inherited: KeySource = { method: 'GET', path: '/p', url: '/p', params: {}, query: {}, headers: {}, body: {} };
  const template = 'k:{query.constructor}:{params.toString}:{header.constructor}:{body.hasOwnProperty}:{body.__proto__}';
  assert.equal(compileKey(template)(inherited), 'k:::::');
  const own: KeySource = {
    method: 'GET', path: '/p', url: '/p',
    params: Object.assign(Object.create(null) as Record<string, string>, { toString: 't' }),
    query: Object.assign(Object.create(null) as Record<string, string>, { constructor: 'ferrari' }),
    headers: { constructor: 'h' },
    body: JSON.parse('{"hasOwnProperty": 2, "__proto__": "p"}') as unknown,
  };
  assert.equal(compileKey(template)(own), 'k:ferrari:t:h:2:p');
  assert.equal(varySuffix(['constructor'], {}), '#constructor=');
  assert.equal(varySuffix(['constructor'], { constructor: 'x' }), '#constructor=x');
});
