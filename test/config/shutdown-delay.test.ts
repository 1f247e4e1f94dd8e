import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffConfig } from '../../config/diff.js';
import { KUBERNETES_SHUTDOWN_DELAY, resolveShutdownDelay } from '../../config/shutdown-delay.js';
import { assertIssue, load, MINIMAL } from '../helpers.js';

const withDelay = (value: string): string => `version: 1\nhttp:\n  shutdownDelay: ${value}\n${MINIMAL.slice('version: 1\n'.length)}`;

test('http.shutdownDelay defaults to auto', () => {
  assert.equal(load(MINIMAL).http.shutdownDelay, 'auto');
});

test('http.shutdownDelay takes a duration, in milliseconds once loaded', () => {
  assert.equal(load(withDelay('2s')).http.shutdownDelay, 2000);
  assert.equal(load(withDelay('1500')).http.shutdownDelay, 1500);
  assert.equal(load(withDelay('0')).http.shutdownDelay, 0);
  assert.equal(load(withDelay('auto')).http.shutdownDelay, 'auto');
});

test('auto is 5 s inside a Kubernetes pod (KUBERNETES_SERVICE_HOST set) and 0 anywhere else', () => {
  assert.equal(KUBERNETES_SHUTDOWN_DELAY, 5000);
  assert.equal(resolveShutdownDelay('auto', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), 5000);
  assert.equal(resolveShutdownDelay('auto', {}), 0);
  assert.equal(resolveShutdownDelay('auto', { KUBERNETES_SERVICE_HOST: '' }), 0, 'an empty variable is not a pod');
  assert.equal(resolveShutdownDelay('auto', { KUBERNETES_SERVICE_HOST: '  ' }), 0);
});

test('an explicit http.shutdownDelay wins over the environment', () => {
  assert.equal(resolveShutdownDelay(0, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), 0);
  assert.equal(resolveShutdownDelay(2000, {}), 2000);
});

test('rejects a mistyped http.shutdownDelay as a duration error at its line and column', () => {
  assertIssue(withDelay('5 seconds'), { code: 'ACTORRT_E_CONFIG_DURATION', line: 3, col: 18, message: /http\.shutdownDelay must be a duration .* or "auto"; got "5 seconds"/, hint: /250ms, 10s/ });
  assertIssue(withDelay('-3'), { code: 'ACTORRT_E_CONFIG_DURATION', line: 3, col: 18 });
  assertIssue(withDelay('aut'), { code: 'ACTORRT_E_CONFIG_DURATION', line: 3, col: 18, hint: /did you mean "auto"/ });
  assertIssue(withDelay('{ s: 5 }'), { code: 'ACTORRT_E_CONFIG_DURATION', line: 3, col: 18 });
});

test('a changed http.shutdownDelay is applied live (read when a stop begins)', () => {
  const changes = diffConfig(load(MINIMAL), load(withDelay('3s')));
  assert.deepEqual(changes.map((c) => [c.path, c.apply]).filter(([p]) => p?.startsWith('http.') === true), [['http.shutdownDelay', 'live']]);
});
