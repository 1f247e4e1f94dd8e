import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Router } from '../../runtime/worker/router.js';
import { routableBytes } from '../../runtime/worker/path.js';
import { targetPath } from '../../runtime/worker/proxy.js';
import { load } from '../helpers.js';
import { percentEncoded } from '../percent-encoded.js';

const encodedPart = percentEncoded;

test('rewrite copies the wildcard byte for byte, whatever bytes the client encoded and however it encoded them', () => {
  const route = { match: { path: '/objects/*' }, rewrite: '/v1/objects/*' };
  fc.assert(fc.property(encodedPart(true), fc.boolean(), (part, trailingSlash) => {
    const path = `/objects/${part}${trailingSlash ? '/' : ''}`;
    assert.equal(targetPath(route, path), `/v1/objects/${part}${trailingSlash ? '/' : ''}`);
  }), { numRuns: 2000 });
});

test('rewrite copies :params byte for byte, in any order and position of the template', () => {
  const route = { match: { path: '/users/:id/files/:name' }, rewrite: '/v2/:name/of/:id' };
  fc.assert(fc.property(encodedPart(false), encodedPart(false), (id, name) => {
    assert.equal(targetPath(route, `/users/${id}/files/${name}`), `/v2/${name}/of/${id}`);
  }), { numRuns: 2000 });
});

test('stripPrefix keeps the rest byte for byte', () => {
  fc.assert(fc.property(encodedPart(true), (part) => {
    assert.equal(targetPath({ match: { path: '/api/*' }, stripPrefix: '/api' }, `/api/${part}`), `/${part}`);
  }), { numRuns: 1000 });
});

test('the reported inputs: an encoded slash, query and equals sign, %25, %00, %FF, ~ and %7E, + and lower-case hex stay as sent', () => {
  const objects = { match: { path: '/objects/*' }, rewrite: '/v1/objects/*' };
  assert.equal(targetPath(objects, '/objects/reports%2F2024%3Fshare%3Dpublic'), '/v1/objects/reports%2F2024%3Fshare%3Dpublic');
  for (const part of ['100%25', 'a%00b', '%FF%fe', '~x', '%7Ex', 'a+b', 'a%2bb', 'caf%c3%a9', 'x%3A%40', 'a/b/', '%2F%2f']) {
    assert.equal(targetPath(objects, `/objects/${part}`), `/v1/objects/${part}`, part);
  }
  const users = { match: { path: '/users/:id' }, rewrite: '/v2/users/:id/profile' };
  assert.equal(targetPath(users, '/users/a%2Fb'), '/v2/users/a%2Fb/profile', 'an encoded slash stays one segment');
  assert.equal(targetPath(users, '/users/a+b'), '/v2/users/a+b/profile', 'never re-encoded to %2B');
  assert.equal(targetPath(users, '/users/%7E'), '/v2/users/%7E/profile');
  assert.equal(targetPath(users, '/users/5/'), '/v2/users/5/profile', 'the router ignores a trailing slash; the parameter has none');
  assert.equal(targetPath({ match: { path: '/files/*' }, rewrite: '/static/*' }, '/files'), '/static/', 'an empty wildcard');
  assert.equal(targetPath({ match: { path: '/a/:x/*' }, rewrite: '/b/*/:x' }, '/a/1/2/3'), '/b/2/3/1');
});

test('what the router matched is what rewrite copies: the raw segments line up with the pattern (find-my-way keeps %2F in one segment)', () => {
  const config = load(`version: 1
resources:
  up: { type: http, origins: [http://127.0.0.1:9] }
routes:
  - match: { path: /objects/* }
    proxy: up
    rewrite: /v1/objects/*
  - match: { path: /users/:id/files/:name }
    proxy: up
    rewrite: /v2/:name/of/:id
`);
  const router = new Router(config.routes);
  const [objects, users] = config.routes;
  assert.ok(objects !== undefined && users !== undefined);
  fc.assert(fc.property(encodedPart(true), encodedPart(false), encodedPart(false), (part, id, name) => {
    for (const [path, route, expected] of [[`/objects/${part}`, objects, `/v1/objects/${part}`], [`/users/${id}/files/${name}`, users, `/v2/${name}/of/${id}`]] as const) {
      const found = router.lookup('GET', path);
      const routed = found.kind === 'found' ? found : router.lookup('GET', routableBytes(path) ?? '');
      assert.equal(routed.kind, 'found', path);
      assert.equal(routed.kind === 'found' ? routed.candidates[0]?.config : undefined, route, path);
      assert.equal(targetPath(route, path), expected);
    }
  }), { numRuns: 1000 });
});

test('routableBytes: segments whose escapes are not UTF-8 have their high escapes escaped again; malformed escapes are no path', () => {
  assert.equal(routableBytes('/files/%FF'), '/files/%25FF');
  assert.equal(routableBytes('/files/caf%C3%A9/%e9t%E9'), '/files/caf%C3%A9/%25e9t%25E9', 'a segment that decodes is left alone');
  assert.equal(routableBytes('/files/%C3%A9%FF%41'), '/files/%25C3%25A9%25FF%41', 'ASCII escapes always decode');
  assert.equal(routableBytes('/files/%E2%82'), '/files/%25E2%2582', 'a truncated sequence');
  assert.equal(routableBytes('/files/%zz'), undefined);
  assert.equal(routableBytes('/files/%'), undefined);
  assert.equal(routableBytes('/files/%A'), undefined);
});
