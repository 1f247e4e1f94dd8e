import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpuQuota, usableCpus } from '../../runtime/primary/cpu-count.js';
import { tempDir } from '../helpers.js';

/** A cgroup mount holding `files` (path -> content). */
function cgroup(files: Record<string, string>): string {
  const root = tempDir('cgroup');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

test('the container CPU quota caps workers: auto (cgroup v2 cpu.max, v1 cfs files; fractions round up; none = every CPU)', () => {
  assert.equal(cpuQuota(cgroup({ 'cpu.max': '200000 100000\n' })), 2);
  assert.equal(cpuQuota(cgroup({ 'cpu.max': '150000 100000\n' })), 1.5);
  assert.equal(cpuQuota(cgroup({ 'cpu.max': 'max 100000\n' })), undefined);
  assert.equal(cpuQuota(cgroup({ 'cpu/cpu.cfs_quota_us': '50000\n', 'cpu/cpu.cfs_period_us': '100000\n' })), 0.5);
  assert.equal(cpuQuota(cgroup({ 'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n' })), undefined);
  assert.equal(cpuQuota(cgroup({})), undefined);
  assert.equal(usableCpus(cgroup({ 'cpu.max': '50000 100000' })), 1, 'half a CPU is one worker, never zero');
  assert.equal(usableCpus(cgroup({ 'cpu.max': `${(availableParallelism() + 4) * 100000} 100000` })), availableParallelism(), 'a quota above the CPUs there are changes nothing');
  assert.equal(usableCpus(cgroup({})), availableParallelism());
});
