import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { after as afterAll, test } from 'node:test';
import type { Config } from '../../config/types.js';
import { loadConfig } from '../../config/validate.js';
import { actorDigests, planReload, type Deployed } from '../../runtime/primary/reload-plan.js';
import { writeProject } from '../helpers.js';

const BASE = `version: 1
http: { port: 8080, workers: 2 }
resources:
  db: { type: sqlite, file: ./app.db }
pools:
  api:
    actor: ./actors/api.ts
    size: 4
    resources: [db]
  thumbs:
    actor: ./actors/api.ts
    processes: 2
    size: 1
routes:
  - match: { method: GET, path: /users/:id }
    pool: api
  - match: { method: POST, path: /thumbs }
    pool: thumbs
`;

function deployed(config: Config, workers = 2, digests: Record<string, string> = { api: 'a1', thumbs: 't1' }): Deployed {
  return { config, digests, workers };
}

// Every variant is loaded from the same file, as a reload reads it (paths resolve the same way).
const FILE = writeProject(BASE);
afterAll(() => rmSync(dirname(FILE), { recursive: true, force: true }));
function load(text: string): Config {
  writeFileSync(FILE, text);
  return loadConfig(FILE);
}
const before = deployed(load(BASE));
const after = (text: string, workers = 2, digests?: Record<string, string>): Deployed => deployed(load(text), workers, digests);

test('an unchanged topology plans nothing', () => {
  const plan = planReload(before, after(BASE));
  assert.equal(plan.empty, true);
  assert.deepEqual(plan.lines, []);
  assert.deepEqual(plan.isolated, []);
  assert.equal(plan.front.roll, undefined);
});

test('--roll replaces every process of an unchanged topology, new before old; with a change, it rolls what the change did not', () => {
  const plan = planReload(before, after(BASE), { roll: true });
  assert.equal(plan.empty, false);
  assert.deepEqual(plan.front, { from: 2, to: 2, roll: 'roll requested' });
  assert.deepEqual(plan.isolated, [{ pool: 'thumbs', from: 2, to: 2, roll: 'roll requested' }]);
  assert.deepEqual(plan.lines, ['pool thumbs: roll 2 processes, new before old (roll requested)', 'front workers: roll 2, new before old (roll requested)']);
  const grown = planReload(before, after(BASE.replace('processes: 2', 'processes: 3'), 2, { api: 'a2', thumbs: 't1' }), { roll: true });
  assert.deepEqual(grown.front.roll, 'pool api: actor module changed', 'a change gives its own reason');
  assert.deepEqual(grown.isolated, [{ pool: 'thumbs', from: 2, to: 3, roll: 'roll requested' }]);
});

test('an inline size change is applied in place: no process started or replaced', () => {
  const plan = planReload(before, after(BASE.replace('size: 4', 'size: 16')));
  assert.deepEqual(plan.lines, ['pool api: size 4 -> 16']);
  assert.deepEqual(plan.isolated, []);
  assert.deepEqual(plan.front, { from: 2, to: 2, roll: undefined });
  assert.deepEqual(plan.refused, []);
});

test('an isolated pool grows and shrinks by processes, saying how many drain', () => {
  assert.deepEqual(planReload(before, after(BASE.replace('processes: 2', 'processes: 5'))).isolated, [{ pool: 'thumbs', from: 2, to: 5, roll: undefined }]);
  const shrink = planReload(before, after(BASE.replace('processes: 2', 'processes: 1')));
  assert.deepEqual(shrink.isolated, [{ pool: 'thumbs', from: 2, to: 1, roll: undefined }]);
  assert.deepEqual(shrink.lines, ['pool thumbs: processes 2 -> 1 (draining 1)']);
});

test('a port or host change is refused as needing a restart, naming the field', () => {
  const plan = planReload(before, after(BASE.replace('port: 8080', 'port: 9090')));
  assert.equal(plan.refused.length, 1);
  assert.match(plan.refused[0] ?? '', /^http\.port: 8080 -> 9090 needs a restart/);
  assert.match(planReload(before, after(BASE.replace('port: 8080', 'port: 8080, host: 127.0.0.1'))).refused[0] ?? '', /^http\.host: /);
});

test('new actor code rolls the processes running it: the front workers for an inline pool, the pool\'s own for an isolated one', () => {
  const inline = planReload(before, after(BASE, 2, { api: 'a2', thumbs: 't1' }));
  assert.equal(inline.front.roll, 'pool api: actor module changed');
  assert.deepEqual(inline.isolated, []);
  assert.equal(inline.empty, false);
  const isolated = planReload(before, after(BASE, 2, { api: 'a1', thumbs: 't2' }));
  assert.equal(isolated.front.roll, undefined);
  assert.deepEqual(isolated.isolated, [{ pool: 'thumbs', from: 2, to: 2, roll: 'actor module changed' }]);
  assert.deepEqual(isolated.lines, ['pool thumbs: roll 2 processes, new before old (actor module changed)']);
});

test('a changed resource rolls every process that holds it; http.limits roll the front workers', () => {
  const plan = planReload(before, after(BASE.replace('file: ./app.db', 'file: ./other.db')));
  assert.equal(plan.front.roll, 'resources db changed for the front workers; pool api: resource db changed');
  assert.match(planReload(before, after(BASE.replace('workers: 2 }', 'workers: 2, limits: { bodyBytes: 2mb } }'))).front.roll ?? '', /http\.limits changed/);
});

test('front worker counts grow and shrink without a roll; routes and settings are swapped in place', () => {
  const plan = planReload(before, after(BASE.replace('size: 4', 'size: 4\n    timeout: 9s').replace('/users/:id', '/people/:id'), 3));
  assert.deepEqual(plan.front, { from: 2, to: 3, roll: undefined });
  assert.deepEqual(plan.lines, ['pool api: timeout changed', 'front workers: 2 -> 3', 'routes: table swapped (2 -> 2 routes)']);
});

test('pools added, removed and moved between the front workers and processes of their own', () => {
  const added = planReload(before, after(BASE.replace('routes:', '  more:\n    actor: ./actors/api.ts\n    processes: 3\nroutes:')));
  assert.deepEqual(added.isolated, [{ pool: 'more', from: 0, to: 3, roll: undefined }]);
  assert.deepEqual(added.lines, ['pool more: added (3 processes x 1 actors)']);
  const moved = planReload(before, after(BASE.replace('    processes: 2\n', '')));
  assert.deepEqual(moved.isolated, [{ pool: 'thumbs', from: 2, to: 0, roll: undefined }]);
  assert.deepEqual(moved.lines, ['pool thumbs: moved from 2 processes of its own into the front workers']);
});

test('actor digests follow the module content, not its path', () => {
  const config = load(BASE);
  const a = actorDigests(config, () => Buffer.from('v1'));
  const b = actorDigests(config, () => Buffer.from('v2'));
  assert.equal(a['api'], a['thumbs'], 'same content, same digest');
  assert.notEqual(a['api'], b['api']);
  assert.equal(actorDigests(config, () => { throw new Error('gone'); })['api'], 'unreadable');
});

test('actor digests change when a module the actor imports changes', () => {
  const config = load(BASE);
  const files = (helper: string) => (file: string): Buffer => {
    if (file.endsWith('/actors/api.ts')) return Buffer.from("import { q } from '../lib/db.js';");
    if (file.endsWith('/lib/db.ts')) return Buffer.from(helper);
    throw new Error('ENOENT');
  };
  assert.equal(actorDigests(config, files('export const q = 1;'))['api'], actorDigests(config, files('export const q = 1;'))['api']);
  assert.notEqual(actorDigests(config, files('export const q = 1;'))['api'], actorDigests(config, files('export const q = 2;'))['api']);
});

test('autoscale on, changed and off are plan lines of their own (applied live; a reload that only touches them is not "no changes")', () => {
  const before = load(BASE);
  const on = load(BASE.replace('    size: 4\n', '    size: 4\n    autoscale: { max: 32 }\n').replace('    processes: 2\n', '    processes: 2\n    autoscale: { max: 4 }\n'));
  let plan = planReload(deployed(before), deployed(on));
  assert.deepEqual(plan.lines, ['pool api: autoscale on (1..32, inflight target 1), from the running size', 'pool thumbs: autoscale on (1..4, utilization target 0.7), from the running size']);
  assert.equal(plan.empty, false, 'the processes are told: they meter autoscaled pools');
  const changed = load(BASE.replace('    size: 4\n', '    size: 4\n    autoscale: { max: 8, target: 2, up: { step: 1 } }\n').replace('    processes: 2\n', '    processes: 2\n    autoscale: { max: 4 }\n'));
  plan = planReload(deployed(on), deployed(changed));
  assert.deepEqual(plan.lines, ['pool api: autoscale max 32 -> 8, target 1 -> 2, up.step 300% -> 1']);
  plan = planReload(deployed(changed), deployed(before));
  assert.deepEqual(plan.lines, ['pool api: autoscale off (the file\'s size applies)', 'pool thumbs: autoscale off (the file\'s size applies)']);
});
