import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResourceHealth } from '../../runtime/primary/resource-health.js';
import { load } from '../helpers.js';

const config = load(`version: 1
resources:
  pg: { type: postgres, url: "postgres://app:hunter2@db.internal:5432/app" }
  api: { type: http, origins: ["http://a.internal:80", "http://b.internal:80"] }
pools:
  p: { actor: ./actors/api.ts, resources: [pg, api] }
routes:
  - match: { path: /x }
    pool: p
`);

test('every declared resource is available until a process reports otherwise; addresses are redacted', () => {
  const health = new ResourceHealth();
  assert.deepEqual(health.status(config), [
    { name: 'pg', type: 'postgres', address: 'postgres://app@db.internal:5432/app', state: 'available', unavailableIn: [] },
    { name: 'api', type: 'http', address: 'http://a.internal, http://b.internal', state: 'available', unavailableIn: [] },
  ]);
});

test('unavailable in the processes that report it, since the first report, until each reports it back or exits', () => {
  const health = new ResourceHealth();
  health.record('worker 0', { type: 'resource', resource: 'pg', available: false, error: 'ECONNREFUSED' });
  health.record('worker 1', { type: 'resource', resource: 'pg', available: false, error: 'Connection terminated' });
  const down = health.status(config)[0];
  assert.equal(down?.state, 'unavailable');
  assert.deepEqual(down?.unavailableIn, ['worker 0', 'worker 1']);
  assert.equal(down?.error, 'ECONNREFUSED', 'the oldest report explains it');
  assert.match(down?.since ?? '', /^\d{4}-\d\d-\d\dT/);

  health.record('worker 0', { type: 'resource', resource: 'pg', available: true });
  assert.deepEqual(health.status(config)[0]?.unavailableIn, ['worker 1']);
  health.forget('worker 1');
  assert.equal(health.status(config)[0]?.state, 'available', 'a process that exited takes its reports with it');
});

test('an http resource with origins taken out is degraded; with all of them out, unavailable', () => {
  const health = new ResourceHealth();
  health.record('worker 0', { type: 'resource', resource: 'api', available: true, originsOut: ['http://b.internal'] });
  const degraded = health.status(config)[1];
  assert.equal(degraded?.state, 'degraded');
  assert.deepEqual(degraded?.originsOut, ['http://b.internal']);
  health.record('worker 0', { type: 'resource', resource: 'api', available: false, originsOut: ['http://a.internal', 'http://b.internal'], error: 'connect ECONNREFUSED' });
  assert.equal(health.status(config)[1]?.state, 'unavailable');
  health.record('worker 0', { type: 'resource', resource: 'api', available: true, originsOut: [] });
  assert.equal(health.status(config)[1]?.state, 'available');
});

test('a reachability report keeps the origins the health check took out', () => {
  const health = new ResourceHealth();
  health.record('worker 0', { type: 'resource', resource: 'api', available: true, originsOut: ['http://b.internal'] });
  health.record('worker 0', { type: 'resource', resource: 'api', available: false, error: 'ECONNREFUSED' });
  assert.equal(health.status(config)[1]?.state, 'unavailable');
  health.record('worker 0', { type: 'resource', resource: 'api', available: true });
  assert.equal(health.status(config)[1]?.state, 'degraded', 'back, but b is still out');
  assert.deepEqual(health.status(config)[1]?.originsOut, ['http://b.internal']);
});
