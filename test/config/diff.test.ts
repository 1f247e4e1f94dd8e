import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { diffConfig } from '../../config/diff.js';
import { loadConfig } from '../../config/validate.js';
import { MINIMAL, writeProject } from '../helpers.js';

test('finds no change between two loads of the same file', () => {
  const file = writeProject(MINIMAL);
  assert.deepEqual(diffConfig(loadConfig(file), loadConfig(file)), []);
});

test('reports a pool size change as applicable live', () => {
  const file = writeProject(MINIMAL);
  const before = loadConfig(file);
  writeFileSync(file, MINIMAL.replace('actor: ./actors/api.ts', 'actor: ./actors/api.ts\n    size: 8'));
  assert.deepEqual(diffConfig(before, loadConfig(file)), [{ path: 'pools.api.size', kind: 'changed', before: 1, after: 8, apply: 'live' }]);
});

test('marks a port change as needing a restart and an actor change as a rolling replace', () => {
  const a = loadConfig(writeProject(MINIMAL));
  const b = loadConfig(writeProject(MINIMAL.replace('version: 1\n', 'version: 1\nhttp: { port: 9090 }\n')));
  const modes = Object.fromEntries(diffConfig(a, b).map((c) => [c.path, c.apply]));
  assert.equal(modes['http.port'], 'restart');
  assert.equal(modes['pools.api.actor'], 'roll');
  assert.equal(modes['file'], 'live');
});

test('reports added and removed routes and pools', () => {
  const a = loadConfig(writeProject(MINIMAL));
  const b = loadConfig(writeProject(`${MINIMAL.replace('routes:', '  web:\n    actor: ./actors/api.ts\nroutes:')}  - match: { path: /w }\n    pool: web\n`));
  const changes = diffConfig(a, b).filter((c) => c.path !== 'file' && !c.path.endsWith('.actor'));
  assert.deepEqual(changes.map((c) => [c.path, c.kind, c.apply]), [['pools.web', 'added', 'live'], ['routes.1', 'added', 'live']]);
});
