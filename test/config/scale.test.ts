import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editScale } from '../../config/scale-edit.js';
import { applyScale, parseScale } from '../../config/scale.js';
import { ActorrtError } from '../../runtime/errors.js';
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
