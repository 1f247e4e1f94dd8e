import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkConfig, checkFromThread, checkThreadData, checkToThread } from '../../runtime/pool-thread/messages.js';
import { load } from '../helpers.js';

const CONFIG = load(`version: 1\npools:\n  crunch:\n    actor: ./actors/api.ts\n    threads: 2\nroutes:\n  - match: { path: /x }\n    pool: crunch\n`);

test('a thread\'s messages are checked field by field; anything else is named, not trusted', () => {
  assert.deepEqual(checkFromThread({ t: 'pong', n: 3, extra: 'ignored' }), { t: 'pong', n: 3 });
  assert.deepEqual(checkFromThread({ t: 'supervision', event: 'actor-restart', count: 1 }), { t: 'supervision', event: 'actor-restart', count: 1 });
  assert.deepEqual(checkFromThread({ t: 'cache', id: 1, name: 'mem', op: 'set', key: 'k', value: { a: 1 }, ttl: '5s' }),
    { t: 'cache', id: 1, name: 'mem', op: 'set', key: 'k', value: { a: 1 }, ttl: '5s' });
  assert.deepEqual(checkFromThread({ t: 'cache', id: 2, name: 'mem', op: 'get', key: 'k', value: 'dropped' }), { t: 'cache', id: 2, name: 'mem', op: 'get', key: 'k' });
  assert.deepEqual(checkFromThread({ t: 'resource', change: { resource: 'db', available: false, error: 'gone', originsOut: ['http://a'] } }),
    { t: 'resource', change: { resource: 'db', available: false, error: 'gone', originsOut: ['http://a'] } });
  for (const bad of [null, 'ready', [], { t: 'pong', n: -1 }, { t: 'supervision', event: 'reboot', count: 1 }, { t: 'cache', id: 1, name: 'mem', op: 'clear', key: 'k' },
    { t: 'cache', id: 1, name: 'mem', op: 'set', key: 'k', ttl: {} }, { t: 'resource', change: { resource: 'db', available: 'no' } }, { t: 'escalate' }, { t: 'nope' }]) {
    assert.equal(typeof checkFromThread(bad), 'string', JSON.stringify(bad));
  }
});

test('the front worker\'s messages and the thread\'s start data are checked for what the thread reads', () => {
  assert.deepEqual(checkToThread({ t: 'ping', n: 1 }, 'crunch'), { t: 'ping', n: 1 });
  assert.deepEqual(checkToThread({ t: 'stop', timeout: 1000 }, 'crunch'), { t: 'stop', timeout: 1000 });
  assert.deepEqual(checkToThread({ t: 'cache-done', id: 4, ok: false, code: 'ACTORRT_E_UNKNOWN_CACHE', message: 'gone' }, 'crunch'),
    { t: 'cache-done', id: 4, ok: false, code: 'ACTORRT_E_UNKNOWN_CACHE', message: 'gone' });
  assert.equal((checkToThread({ t: 'reconfigure', config: CONFIG }, 'crunch') as { config: unknown }).config, CONFIG);
  assert.match(checkToThread({ t: 'reconfigure', config: CONFIG }, 'other') as string, /pool "other" is missing/);
  assert.match(checkToThread({ t: 'cache-done', id: 1, ok: 'yes' }, 'crunch') as string, /neither a value nor an error/);
  assert.deepEqual(checkThreadData({ config: CONFIG, pool: 'crunch', index: 1 }), { config: CONFIG, pool: 'crunch', index: 1 });
  assert.match(checkThreadData({ config: CONFIG, pool: 'crunch' }) as string, /no pool or index/);
  const broken = { ...CONFIG, pools: { crunch: { ...CONFIG.pools['crunch'], supervision: { strategy: 'one-for-one' } } } };
  assert.match(checkConfig(broken, 'crunch') as string, /no complete supervision/);
});
