import assert from 'node:assert/strict';
import { test } from 'node:test';
import { glob, paramsFor, Router, type RouteLookup } from '../../runtime/worker/router.js';
import { load } from '../helpers.js';

function router(routes: string): Router {
  const config = load(`version: 1\npools:\n  a:\n    actor: ./actors/api.ts\n  b:\n    actor: ./actors/api.ts\nroutes:\n${routes}`);
  return new Router(config.routes);
}

/** `fields` in an object without a prototype, as the front worker's query is. */
function bare(fields: Record<string, string>): Record<string, string> {
  return Object.assign(Object.create(null) as Record<string, string>, fields);
}

function pick(r: Router, method: string, path: string, req: { headers?: Record<string, string>; query?: Record<string, string>; body?: unknown } = {}): { index: number; params: Record<string, string> } | RouteLookup['kind'] {
  const found = r.lookup(method, path);
  if (found.kind !== 'found') return found.kind;
  const route = found.candidates.find((c) => c.matchesHead({ headers: req.headers ?? {}, query: req.query ?? {} }) && c.matchesBody(req.body));
  return route === undefined ? 'not-found' : { index: route.config.index, params: { ...paramsFor(route, found.params) } };
}

test('routes by method and path, extracting parameters', () => {
  const r = router(`  - match: { method: GET, path: /users/:id }\n    pool: a\n  - match: { method: [PUT, DELETE], path: /users/:id }\n    pool: b\n`);
  assert.deepEqual(pick(r, 'GET', '/users/42'), { index: 0, params: { id: '42' } });
  assert.deepEqual(pick(r, 'DELETE', '/users/42'), { index: 1, params: { id: '42' } });
});

test('answers method-not-allowed with the methods that would match', () => {
  const r = router(`  - match: { method: GET, path: /users/:id }\n    pool: a\n  - match: { method: [PUT, DELETE], path: /users/:id }\n    pool: b\n`);
  const found = r.lookup('POST', '/users/1');
  assert.deepEqual(found, { kind: 'method-not-allowed', allow: ['GET', 'HEAD', 'PUT', 'DELETE'] });
  assert.equal(r.lookup('GET', '/nothing').kind, 'not-found');
});

test('a route without method matches every method', () => {
  const r = router(`  - match: { path: /any }\n    pool: a\n`);
  for (const m of ['GET', 'POST', 'DELETE', 'PATCH']) assert.deepEqual(pick(r, m, '/any'), { index: 0, params: {} });
});

test('picks, among routes on the same path, the first whose header glob matches', () => {
  const r = router(`  - match: { method: POST, path: /t, header: { content-type: image/* } }\n    pool: a\n  - match: { method: POST, path: /t }\n    pool: b\n`);
  assert.equal((pick(r, 'POST', '/t', { headers: { 'content-type': 'image/png' } }) as { index: number }).index, 0);
  assert.equal((pick(r, 'POST', '/t', { headers: { 'content-type': 'IMAGE/JPEG' } }) as { index: number }).index, 0);
  assert.equal((pick(r, 'POST', '/t', { headers: { 'content-type': 'application/json' } }) as { index: number }).index, 1);
  assert.equal((pick(r, 'POST', '/t') as { index: number }).index, 1);
});

test('matches a content-type condition regardless of parameters such as charset', () => {
  const r = router(`  - match: { method: POST, path: /j, header: { content-type: application/json } }\n    pool: a\n`);
  assert.equal((pick(r, 'POST', '/j', { headers: { 'content-type': 'application/json; charset=utf-8' } }) as { index: number }).index, 0);
});

test('routes by query parameter and by top-level body field', () => {
  const r = router(`  - match: { method: POST, path: /e, query: { v: "2" } }\n    pool: a\n  - match: { method: POST, path: /e, body: { type: resize } }\n    pool: b\n`);
  assert.equal((pick(r, 'POST', '/e', { query: { v: '2' } }) as { index: number }).index, 0);
  assert.equal((pick(r, 'POST', '/e', { body: { type: 'resize' } }) as { index: number }).index, 1);
  assert.equal(pick(r, 'POST', '/e', { body: { type: 'crop' } }), 'not-found');
  assert.equal(pick(r, 'POST', '/e', { body: Buffer.from('type=resize') }), 'not-found');
});

test('prefers the more specific path: static over parameter over wildcard', () => {
  const r = router(`  - match: { method: GET, path: /files/* }\n    pool: a\n  - match: { method: GET, path: /files/:name }\n    pool: a\n  - match: { method: GET, path: /files/readme }\n    pool: b\n`);
  assert.equal((pick(r, 'GET', '/files/readme') as { index: number }).index, 2);
  assert.deepEqual(pick(r, 'GET', '/files/x.txt'), { index: 1, params: { name: 'x.txt' } });
  assert.deepEqual(pick(r, 'GET', '/files/a/b'), { index: 0, params: { '*': 'a/b' } });
});

test('gives each route its own parameter names when paths differ only in names', () => {
  const r = router(`  - match: { method: GET, path: /u/:id, header: { x-v: "1" } }\n    pool: a\n  - match: { method: GET, path: /u/:key }\n    pool: b\n`);
  assert.deepEqual(pick(r, 'GET', '/u/7', { headers: { 'x-v': '1' } }), { index: 0, params: { id: '7' } });
  assert.deepEqual(pick(r, 'GET', '/u/7'), { index: 1, params: { key: '7' } });
});

test('renames parameters correctly when only some methods share a path with differently named params', () => {
  const r = router(`  - match: { method: POST, path: /u/:id }\n    pool: a\n  - match: { method: [GET, POST], path: /u/:key, header: { x-v: "2" } }\n    pool: b\n`);
  assert.deepEqual(pick(r, 'GET', '/u/7', { headers: { 'x-v': '2' } }), { index: 1, params: { key: '7' } });
  assert.deepEqual(pick(r, 'POST', '/u/8'), { index: 0, params: { id: '8' } });
  const found = r.lookup('POST', '/u/9');
  assert.ok(found.kind === 'found');
  const second = found.candidates[1];
  assert.ok(second !== undefined);
  assert.deepEqual({ ...paramsFor(second, found.params) }, { key: '9' });
});

test('decodes percent-encoded parameters and ignores a trailing slash', () => {
  const r = router(`  - match: { method: GET, path: /users/:id }\n    pool: a\n`);
  assert.deepEqual(pick(r, 'GET', '/users/a%20b/'), { index: 0, params: { id: 'a b' } });
});

test('glob matching is case-insensitive and anchored', () => {
  assert.ok(glob('image/*')('image/png'));
  assert.ok(!glob('image/*')('x-image/png'));
  assert.ok(glob('a.b')('A.B'));
  assert.ok(!glob('a.b')('axb'));
});

test('HEAD is answered by the GET route of a path, unless a route declares HEAD for it', () => {
  const r = router(`  - match: { method: GET, path: /users/:id }\n    pool: a\n  - match: { method: GET, path: /files/*}\n    pool: a\n  - match: { method: HEAD, path: /files/* }\n    pool: b\n`);
  assert.deepEqual(pick(r, 'HEAD', '/users/7'), { index: 0, params: { id: '7' } });
  assert.equal((pick(r, 'HEAD', '/files/a') as { index: number }).index, 2);
  assert.equal((pick(r, 'GET', '/files/a') as { index: number }).index, 1);
});

test('conditions on names like Object.prototype members hold only for what the request itself sends', () => {
  const r = router(`  - match: { method: POST, path: /c, query: { constructor: ferrari }, header: { constructor: "*" } }
    pool: a
  - match: { method: POST, path: /c, body: { toString: "1" } }
    pool: b
  - match: { method: POST, path: /c, query: { __proto__: x } }
    pool: b
`);
  // Plain objects, as node:http gives headers and JSON.parse gives a body: the inherited members must not count.
  assert.equal(pick(r, 'POST', '/c', { headers: {}, query: {}, body: {} }), 'not-found');
  assert.equal((pick(r, 'POST', '/c', { headers: { constructor: 'v' }, query: bare({ constructor: 'ferrari' }) }) as { index: number }).index, 0);
  assert.equal((pick(r, 'POST', '/c', { body: JSON.parse('{"toString":"1"}') as unknown }) as { index: number }).index, 1);
  assert.equal((pick(r, 'POST', '/c', { query: JSON.parse('{"__proto__":"x"}') as Record<string, string> }) as { index: number }).index, 2);
});

test('renamed parameters come in an object without a prototype, as find-my-way gives its own', () => {
  const r = router(`  - match: { method: GET, path: /u/:id }\n    pool: a\n  - match: { method: PUT, path: /u/:name }\n    pool: b\n`);
  for (const method of ['GET', 'PUT']) {
    const found = r.lookup(method, '/u/constructor');
    assert.ok(found.kind === 'found');
    const route = found.candidates[0];
    assert.ok(route !== undefined);
    const params = paramsFor(route, found.params);
    assert.equal(Object.getPrototypeOf(params) === null || Object.getPrototypeOf(Object.getPrototypeOf(params)) === null, true, `${method}: no Object.prototype`);
    assert.equal((params as Record<string, unknown>)['toString'], undefined);
    assert.deepEqual(Object.values(params), ['constructor']);
  }
});
