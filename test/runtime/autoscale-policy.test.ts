import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autoscaledSizes, autoscaledUnit, INLINE_MAX, policyOf } from '../../runtime/autoscale/policy.js';
import { load } from '../helpers.js';

const topology = (pool: string): string => `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n${pool}routes:\n  - match: { path: /x }\n    pool: api\n`;

test('the unit scaled is the pool\'s own, and max defaults to 64 actors (inline) or the usable CPUs (threads, processes)', () => {
  const inline = load(topology('    autoscale: {}\n')).pools['api'];
  const threads = load(topology('    threads: 1\n    autoscale: {}\n')).pools['api'];
  const processes = load(topology('    processes: 1\n    autoscale: { min: 3 }\n')).pools['api'];
  assert.deepEqual([autoscaledUnit(inline), autoscaledUnit(threads), autoscaledUnit(processes)], ['size', 'threads', 'processes']);
  assert.equal(autoscaledUnit(load(topology('    size: 2\n')).pools['api']), undefined);
  assert.equal(inline && policyOf(inline, 2)?.max, INLINE_MAX);
  assert.equal(threads && policyOf(threads, 2)?.max, 2);
  assert.equal(processes && policyOf(processes, 2)?.max, 3, 'never below min');
  const big = load(topology('    autoscale: { min: 100 }\n')).pools['api'];
  assert.equal(big && policyOf(big, 2)?.max, 100, 'an inline pool with min above the default max: max is min, not bounds 100..64');
});

test('at start an autoscaled pool takes the file\'s size clamped into its bounds; others are left alone', () => {
  const config = load(topology('    size: 40\n    autoscale: { min: 2, max: 16 }\n'));
  assert.equal(autoscaledSizes(config, undefined, 2).pools['api']?.size, 16);
  const low = load(topology('    autoscale: { min: 3 }\n'));
  assert.equal(autoscaledSizes(low, undefined, 2).pools['api']?.size, 3);
  const plain = load(topology('    size: 40\n'));
  assert.equal(autoscaledSizes(plain, undefined, 2), plain, 'nothing to clamp: the same object');
});

test('a reload keeps the running size, clamped into the new bounds; a change of kind or the end of autoscaling takes the file\'s', () => {
  const running = autoscaledSizes(load(topology('    size: 24\n    autoscale: { max: 32 }\n')), undefined, 2);
  assert.equal(autoscaledSizes(load(topology('    size: 4\n    autoscale: { max: 32 }\n')), running, 2).pools['api']?.size, 24);
  assert.equal(autoscaledSizes(load(topology('    size: 4\n    autoscale: { max: 8 }\n')), running, 2).pools['api']?.size, 8);
  assert.equal(autoscaledSizes(load(topology('    size: 4\n')), running, 2).pools['api']?.size, 4);
  const threads = autoscaledSizes(load(topology('    threads: 1\n    size: 4\n    autoscale: { max: 2 }\n')), running, 2).pools['api'];
  assert.deepEqual([threads?.threads, threads?.size], [1, 4], 'inline -> threads: the threads start where the file says');
  const started = load(topology('    size: 5\n'));
  assert.equal(autoscaledSizes(load(topology('    size: 1\n    autoscale: {}\n')), started, 2).pools['api']?.size, 5, 'autoscaling turned on starts from the running size');
});
