import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, tempDir } from '../helpers.js';
import { call, startInstance, type Answer, type Instance } from './instance.js';

// Names clients choose (query parameters, header names, path segments, body fields) that are also
// Object.prototype members, through the real CLI, on an inline pool and an isolated one.

const TOPOLOGY = `version: 1
http: { port: 0, host: 127.0.0.1, workers: 1 }
caches:
  local: { store: memory, maxEntries: 100 }
pools:
  inline: { actor: ./actors/echo.mjs, size: 2 }
  isolated: { actor: ./actors/echo.mjs, processes: 1, size: 2 }
routes:
  - match: { method: GET, path: /inline/q }
    pool: inline
  - match: { method: GET, path: /isolated/q }
    pool: isolated
  - match: { method: GET, path: /inline/users/:id }
    pool: inline
  - match: { method: GET, path: /isolated/users/:id }
    pool: isolated
  # Parameter names that are Object.prototype members; the PUT routes' names are renamed (same path shape).
  - match: { method: GET, path: /inline/p/:__proto__/:constructor }
    pool: inline
  - match: { method: PUT, path: /inline/p/:toString/:hasOwnProperty }
    pool: inline
  - match: { method: PUT, path: /isolated/p/:__proto__/:constructor }
    pool: isolated
  - match: { method: GET, path: /cached }
    pool: inline
    cache: { use: local, key: "car:{query.constructor}:{header.constructor}" }
  - match: { method: GET, path: /peek }
    pool: inline
  - match: { method: GET, path: /cond, query: { constructor: ferrari } }
    pool: inline
  - match: { method: GET, path: /cond, header: { constructor: "*" } }
    pool: isolated
  - match: { method: POST, path: /cond, body: { toString: "1" } }
    pool: isolated
  - match: { path: /cond }
    pool: inline
`;

interface Seen {
  readonly pool: string;
  readonly served: number;
  readonly query: Array<[string, string | string[]]>;
  readonly params: Array<[string, string]>;
  readonly constructorHeader: string | null;
  readonly inherited: { readonly query: string[]; readonly params: string[]; readonly headers: string[] };
}

function seen(answer: Answer): Seen {
  assert.equal(answer.status, 200, answer.text);
  return answer.json as Seen;
}

const NOTHING_INHERITED = { query: [], params: [], headers: [] };

describe('request objects keyed by client input, through the CLI', { timeout: 120_000 }, () => {
  let app: Instance;
  before(async () => {
    const dir = tempDir('request-objects');
    cpSync(join(ROOT, 'test/fixtures/request-objects/actors'), join(dir, 'actors'), { recursive: true });
    writeFileSync(join(dir, 'actorrt.yml'), TOPOLOGY);
    app = await startInstance(join(dir, 'actorrt.yml'));
  });
  after(async () => { await app.stop(); });

  for (const pool of ['inline', 'isolated']) {
    test(`${pool}: ?constructor=, ?__proto__=, ?toString=&hasOwnProperty= reach the actor as plain values under their own names`, async () => {
      const ferrari = seen(await call(`${app.url}/${pool}/q?constructor=ferrari`));
      assert.equal(ferrari.pool, pool);
      assert.deepEqual(ferrari.query, [['constructor', 'ferrari']]);
      assert.deepEqual(ferrari.inherited, NOTHING_INHERITED);
      assert.deepEqual(seen(await call(`${app.url}/${pool}/q?__proto__=x`)).query, [['__proto__', 'x']]);
      assert.deepEqual(seen(await call(`${app.url}/${pool}/q?__proto__=x&__proto__=y`)).query, [['__proto__', ['x', 'y']]]);
      const two = seen(await call(`${app.url}/${pool}/q?toString=1&hasOwnProperty=2`));
      assert.deepEqual(two.query, [['toString', '1'], ['hasOwnProperty', '2']]);
      assert.deepEqual(two.inherited, NOTHING_INHERITED);
      const none = seen(await call(`${app.url}/${pool}/q`));
      assert.deepEqual([none.query, none.inherited], [[], NOTHING_INHERITED], 'no query: nothing reads as an Object.prototype member');
    });

    test(`${pool}: a path segment "constructor" is a parameter value, and a header named constructor is a header`, async () => {
      const user = seen(await call(`${app.url}/${pool}/users/constructor`, { headers: { constructor: 'v8' } }));
      assert.deepEqual(user.params, [['id', 'constructor']]);
      assert.equal(user.constructorHeader, 'v8');
      assert.deepEqual(user.inherited, NOTHING_INHERITED);
      const plain = seen(await call(`${app.url}/${pool}/users/7`));
      assert.equal(plain.constructorHeader, null, 'without the header, req.headers.constructor is undefined, not Object');
      assert.deepEqual(plain.inherited, NOTHING_INHERITED);
    });
  }

  test('parameters named like Object.prototype members hold the path\'s values, renamed or not, inline and isolated', async () => {
    assert.deepEqual(seen(await call(`${app.url}/inline/p/a/b`)).params, [['__proto__', 'a'], ['constructor', 'b']]);
    const renamed = seen(await call(`${app.url}/inline/p/a/b`, { method: 'PUT' }));
    assert.deepEqual(renamed.params, [['toString', 'a'], ['hasOwnProperty', 'b']]);
    assert.deepEqual(renamed.inherited, NOTHING_INHERITED);
    assert.deepEqual(seen(await call(`${app.url}/isolated/p/a/b`, { method: 'PUT' })).params, [['__proto__', 'a'], ['constructor', 'b']]);
  });

  test('a cache key {query.constructor} renders what the client sent, empty when it sent nothing', async () => {
    const first = await call(`${app.url}/cached`);
    assert.equal(first.headers['x-cache'], 'MISS');
    const peek = async (key: string): Promise<boolean> => (seen(await call(`${app.url}/peek?key=${encodeURIComponent(key)}`)) as unknown as { stored: boolean }).stored;
    assert.equal(await peek('car::'), true, 'stored under "car::", not under a function\'s source');
    assert.equal((await call(`${app.url}/cached?constructor=ferrari`, { headers: { constructor: 'v8' } })).headers['x-cache'], 'MISS');
    assert.equal(await peek('car:ferrari:v8'), true);
    const again = await call(`${app.url}/cached?constructor=ferrari`, { headers: { constructor: 'v8' } });
    assert.equal(again.headers['x-cache'], 'HIT');
  });

  test('route conditions on such names hold only when the client sent them; otherwise the next route takes the request', async () => {
    assert.equal(seen(await call(`${app.url}/cond?constructor=ferrari`)).pool, 'inline');
    assert.equal(seen(await call(`${app.url}/cond`, { headers: { constructor: 'x' } })).pool, 'isolated');
    const json = { 'content-type': 'application/json' };
    assert.equal(seen(await call(`${app.url}/cond`, { method: 'POST', headers: json, body: '{"toString":"1"}' })).pool, 'isolated');
    // Nothing sent: the conditions fail (not a 500 from reading Object.prototype members), and the fallback answers.
    const fallback = seen(await call(`${app.url}/cond`));
    assert.equal(fallback.pool, 'inline');
    assert.deepEqual(fallback.query, []);
    assert.equal(seen(await call(`${app.url}/cond`, { method: 'POST', headers: json, body: '{}' })).pool, 'inline');
  });
});
