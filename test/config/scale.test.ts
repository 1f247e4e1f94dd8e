import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editScale } from '../../config/scale-edit.js';
import { applyScale, parseScale } from '../../config/scale.js';
import { ActorrtError } from '../../runtime/errors.js';
import { planReload, type Deployed } from '../../runtime/primary/reload-plan.js';
import { load } from '../helpers.js';

const TOPOLOGY = `version: 1
pools:
  api:                    # inline
    actor: ./actors/api.ts
    size: 4   # per worker
  thumbs: { actor: ./actors/api.ts, processes: 2 }
routes:
  - match: { path: /a }
    pool: api
  - match: { path: /t }
    pool: thumbs
`;

test('parses pool=n, pool.size=n and pool.processes=n; refuses anything else as a usage error', () => {
  assert.deepEqual(parseScale(['api=8', 'api.size=9', 'thumbs.processes=3']), [
    { pool: 'api', key: 'size', value: 8 }, { pool: 'api', key: 'size', value: 9 }, { pool: 'thumbs', key: 'processes', value: 3 },
  ]);
  for (const bad of [['api'], ['api=-1'], ['api.workers=2'], ['=3'], []]) {
    assert.throws(() => parseScale(bad), (e: unknown) => e instanceof ActorrtError && e.code === 'ACTORRT_E_USAGE', bad.join(' '));
  }
});

test('applies overrides to a copy of the running topology, refusing unknown pools, bounds and processes of an inline pool', () => {
  const config = load(TOPOLOGY);
  const scaled = applyScale(config, [{ pool: 'api', key: 'size', value: 16 }, { pool: 'thumbs', key: 'processes', value: 4 }]);
  assert.equal(scaled.pools['api']?.size, 16);
  assert.equal(scaled.pools['thumbs']?.processes, 4);
  assert.equal(config.pools['api']?.size, 4, 'the running topology is untouched');
  assert.ok(Object.isFrozen(scaled.pools['api']));
  const code = (o: Parameters<typeof applyScale>[1]): string => {
    try { applyScale(config, o); } catch (e) { return `${(e as ActorrtError).code} ${(e as ActorrtError).hint ?? ''}`; }
    return 'accepted';
  };
  assert.match(code([{ pool: 'apy', key: 'size', value: 2 }]), /^ACTORRT_E_CONFIG_UNKNOWN_REF did you mean "api"\?/);
  assert.match(code([{ pool: 'api', key: 'size', value: 0 }]), /^ACTORRT_E_CONFIG_VALUE/);
  assert.match(code([{ pool: 'api', key: 'size', value: 4097 }]), /^ACTORRT_E_CONFIG_VALUE/);
  assert.match(code([{ pool: 'api', key: 'processes', value: 2 }]), /^ACTORRT_E_CONFIG_VALUE scale its actors with api=<size>/);
});

test('writes new sizes into the file changing only the values: comments, flow maps and layout stay', () => {
  const out = editScale(TOPOLOGY, [{ pool: 'api', key: 'size', value: 16 }, { pool: 'thumbs', key: 'processes', value: 3 }, { pool: 'thumbs', key: 'size', value: 2 }]);
  assert.equal(out, TOPOLOGY.replace('size: 4   # per worker', 'size: 16   # per worker').replace('processes: 2 }', 'processes: 3, size: 2 }'));
  const added = editScale(TOPOLOGY.replace('    size: 4   # per worker\n', ''), [{ pool: 'api', key: 'size', value: 2 }]);
  assert.match(added, /api: {20}# inline\n {4}actor: \.\/actors\/api\.ts\n {4}size: 2\n {2}thumbs:/);
  assert.throws(() => editScale(TOPOLOGY, [{ pool: 'nope', key: 'size', value: 1 }]), /no pool "nope"/);
});

/** Names every plain object answers for (Object.prototype's), which no topology here declares as pools. */
const PROTOTYPE_NAMES = ['toString', 'constructor', 'valueOf', 'hasOwnProperty', '__proto__', 'isPrototypeOf', '__defineGetter__'];

test('a pool name that is an Object.prototype member is an unknown pool, refused exactly like any other', () => {
  const config = load(TOPOLOGY);
  const refusal = (o: Parameters<typeof applyScale>[1][number]): { code: string; message: string; hint: string | undefined } => {
    try {
      applyScale(config, [o]);
    } catch (e) {
      assert.ok(e instanceof ActorrtError, String(e));
      return { code: e.code, message: e.message, hint: e.hint };
    }
    return assert.fail(`${o.pool}.${o.key}=${o.value} was accepted`);
  };
  const unknown = refusal({ pool: 'nosuchpool', key: 'size', value: 2 });
  assert.deepEqual(unknown, { code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', message: 'the running topology has no pool "nosuchpool"', hint: 'pools: api, thumbs' });
  for (const name of PROTOTYPE_NAMES) {
    for (const key of ['size', 'processes'] as const) {
      // Through parseScale, as `actorrt scale f toString=1` / `constructor.processes=2` arrive.
      const [o] = parseScale([key === 'size' ? `${name}=3` : `${name}.processes=2`]);
      assert.deepEqual(o, { pool: name, key, value: key === 'size' ? 3 : 2 });
      assert.deepEqual(refusal(o as NonNullable<typeof o>), { ...unknown, message: `the running topology has no pool "${name}"` }, `${name}.${key}`);
    }
  }
  assert.equal(Object.getPrototypeOf(config.pools), Object.prototype, 'the running topology is untouched');
});

test('pools really named toString or constructor (valid names) scale and plan like any pool', () => {
  const named = `version: 1
pools:
  toString: { actor: ./actors/api.ts }
  constructor: { actor: ./actors/api.ts, processes: 1 }
routes:
  - match: { path: /a }
    pool: toString
  - match: { path: /b }
    pool: constructor
`;
  const config = load(named);
  const scaled = applyScale(config, [{ pool: 'toString', key: 'size', value: 3 }, { pool: 'constructor', key: 'processes', value: 2 }]);
  assert.deepEqual(Object.keys(scaled.pools), ['toString', 'constructor']);
  assert.equal(scaled.pools['toString']?.size, 3);
  assert.equal(scaled.pools['constructor']?.processes, 2);
  const deployed = (c: typeof config): Deployed => ({ config: c, digests: { toString: 'd', constructor: 'd' }, workers: 1 });
  assert.deepEqual(planReload(deployed(config), deployed(scaled)).lines, ['pool toString: size 1 -> 3', 'pool constructor: processes 1 -> 2']);
  // A pool of such a name added or removed by a reload is added / removed, never compared with Object.prototype's member.
  const base = load(TOPOLOGY);
  const without = (c: typeof base): Deployed => ({ config: c, digests: { api: 'd', thumbs: 'd' }, workers: 1 });
  const added = planReload(without(base), deployed(config));
  assert.ok(added.lines.includes('pool toString: added (inline, 1 actors per worker)'), added.lines.join('\n'));
  assert.ok(added.lines.includes('pool constructor: added (1 process x 1 actors)'), added.lines.join('\n'));
  assert.equal(added.front.roll, undefined, 'nothing rolls the front workers');
  const removed = planReload(deployed(config), without(base));
  assert.ok(removed.lines.includes('pool toString: removed (its actors drain)'), removed.lines.join('\n'));
  assert.ok(removed.lines.includes('pool constructor: removed (draining 1 process)'), removed.lines.join('\n'));
});

test('--write refuses an Object.prototype name as a pool the file does not have, and writes a pool really named so', () => {
  for (const name of PROTOTYPE_NAMES) {
    assert.throws(() => editScale(TOPOLOGY, [{ pool: name, key: 'size', value: 2 }]),
      (e: unknown) => e instanceof ActorrtError && e.code === 'ACTORRT_E_CONFIG_UNKNOWN_REF' && e.message.includes(`no pool "${name}"`), name);
  }
  const named = TOPOLOGY.replaceAll('thumbs', 'constructor');
  assert.equal(editScale(named, [{ pool: 'constructor', key: 'processes', value: 3 }]), named.replace('processes: 2 }', 'processes: 3 }'));
});
