import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResourceConfig } from '../../config/types.js';
import { describeAddress, redactUrl, scrub } from '../../runtime/resources/address.js';
import { causeOf, isConnectionError } from '../../runtime/resources/connection-errors.js';
import { resourcesFor } from '../../runtime/resources/resources.js';
import { targetPath } from '../../runtime/worker/proxy.js';
import { load } from '../helpers.js';

const startup = { retries: 0, delay: 0 };

test('redacts passwords and query parameters from addresses, keeping the user', () => {
  assert.equal(redactUrl('postgres://app:s3cret@127.0.0.1:5432/app'), 'postgres://app@127.0.0.1:5432/app');
  assert.equal(redactUrl('redis://:p%40ss@cache:6379/0'), 'redis://cache:6379/0');
  assert.equal(redactUrl('postgres://app@db/app?password=x&sslmode=require'), 'postgres://app@db/app');
  assert.equal(redactUrl('not a url://u:pw@host?password=x'), 'not a url://u@host');
  const pg: ResourceConfig = { type: 'postgres', host: 'db', user: 'app', password: 'pw', database: 'app', max: 1, idleTimeout: 1, connectTimeout: 1, startup };
  assert.equal(describeAddress(pg), 'postgres://app@db:5432/app');
});

test('scrubs a resource secret out of any driver message', () => {
  const pg: ResourceConfig = { type: 'postgres', url: 'postgres://app:t%40p-secret@db/app', max: 1, idleTimeout: 1, connectTimeout: 1, startup };
  assert.equal(scrub('auth failed for t@p-secret and t%40p-secret', pg), 'auth failed for *** and ***');
  const fields: ResourceConfig = { type: 'postgres', host: 'db', password: 'hunter2', max: 1, idleTimeout: 1, connectTimeout: 1, startup };
  assert.equal(scrub('password hunter2 rejected', fields), 'password *** rejected');
});

test('tells connection failures from query errors and actor bugs', () => {
  const net = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  assert.equal(isConnectionError(net), true);
  assert.equal(isConnectionError(new AggregateError([net], 'all attempts failed')), true, 'dual-stack connect errors');
  assert.equal(isConnectionError(new Error('Connection terminated unexpectedly')), true, 'pg lost connection');
  assert.equal(isConnectionError(Object.assign(new Error('admin shutdown'), { code: '57P01' })), true, 'pg server shutting down');
  class ClientOfflineError extends Error {}
  assert.equal(isConnectionError(new ClientOfflineError('The client is offline')), true, 'node-redis offline (its errors keep name "Error")');
  assert.equal(causeOf(new ClientOfflineError('The client is offline')), 'ClientOfflineError: The client is offline');
  assert.equal(isConnectionError(new Error('wrapped', { cause: net })), true, 'through a cause');
  assert.equal(isConnectionError(Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' })), false);
  assert.equal(isConnectionError(Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })), false);
  assert.equal(isConnectionError(new TypeError('x is undefined')), false);
  assert.equal(isConnectionError('ECONNREFUSED'), false);
  assert.equal(causeOf(new AggregateError([net])), 'ECONNREFUSED');
  const cantOpen = Object.assign(new Error('unable to open database file'), { code: 'SQLITE_CANTOPEN' });
  assert.equal(isConnectionError(cantOpen), true, 'a database file that is not there (yet)');
  assert.equal(causeOf(cantOpen), 'SQLITE_CANTOPEN (unable to open database file)', "SQLite's code with what it could not do");
});

test('proxy paths: stripPrefix removes the prefix, rewrite fills :params and *', () => {
  const api = { match: { path: '/api/*' } };
  assert.equal(targetPath({ ...api, stripPrefix: '/api' }, '/api/users/1'), '/users/1');
  assert.equal(targetPath({ ...api, stripPrefix: '/api/' }, '/api/users'), '/users');
  assert.equal(targetPath({ ...api, stripPrefix: '/api' }, '/api'), '/');
  assert.equal(targetPath({ ...api, stripPrefix: '/api' }, '/other'), '/other');
  assert.equal(targetPath({ match: { path: '/as/*' } }, '/as/is%20kept'), '/as/is%20kept');
  assert.equal(targetPath({ match: { path: '/u/:id' }, rewrite: '/v2/users/:id/profile' }, '/u/a%20b'), '/v2/users/a%20b/profile');
  assert.equal(targetPath({ match: { path: '/files/*' }, rewrite: '/static/*' }, '/files/x/y.png'), '/static/x/y.png');
});

test('a process opens only the resources its pools (and, in front workers, its proxies) use, in declaration order', () => {
  const config = load(`version: 1
resources:
  up: { type: http, origins: [http://127.0.0.1:9] }
  db: { type: sqlite, file: ./a.db }
  unused: { type: sqlite, file: ./b.db }
  cache: { type: redis }
pools:
  api: { actor: ./actors/api.ts, resources: [cache, db] }
routes:
  - match: { path: /x }
    pool: api
  - match: { path: /up/* }
    proxy: up
`);
  const api = config.pools['api'];
  assert.ok(api !== undefined);
  assert.deepEqual(resourcesFor(config, [api], true), ['up', 'db', 'cache']);
  assert.deepEqual(resourcesFor(config, [api], false), ['db', 'cache']);
  assert.deepEqual(resourcesFor(config, [], false), []);
});
