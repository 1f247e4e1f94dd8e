import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { test } from 'node:test';
import { memoryShort, readMemory } from '../../runtime/autoscale/memory.js';
import { tempDir } from '../helpers.js';

test('a container\'s memory.max below the host\'s memory is what counts; without one, the host\'s', () => {
  const root = tempDir('cgroup');
  assert.equal(readMemory(root).scope, 'host', 'no cgroup files');
  writeFileSync(join(root, 'memory.max'), 'max\n');
  writeFileSync(join(root, 'memory.current'), '1000\n');
  assert.equal(readMemory(root).scope, 'host', 'no limit');
  writeFileSync(join(root, 'memory.max'), `${512 * 1048576}\n`);
  writeFileSync(join(root, 'memory.current'), `${500 * 1048576}\n`);
  const m = readMemory(root);
  assert.deepEqual([m.scope, m.total, m.available], ['container', 512 * 1048576, 12 * 1048576]);
  assert.match(memoryShort(m, []) ?? '', /the container has 12 MiB available, under 10 % of 512 MiB/);
  assert.ok(totalmem() > 512 * 1048576);
});

test('growth waits for a process near its memory bound; unbounded processes never stop it', () => {
  const plenty = { available: 8e9, total: 16e9, scope: 'host' as const };
  assert.equal(memoryShort(plenty, [{ name: 'worker 0', rss: 9e9, bound: undefined }]), undefined);
  assert.equal(memoryShort(plenty, [{ name: 'worker 0', rss: 400 * 1048576, bound: 512 * 1048576 }]), undefined);
  assert.match(memoryShort(plenty, [{ name: 'worker 1', rss: 470 * 1048576, bound: 512 * 1048576 }]) ?? '', /worker 1 uses 470 MiB, over 90 % of its 512 MiB bound/);
});
