/**
 * actorrt's test kit: what users import from 'actorrt/testing' to test their topology and actors
 * in their own test suites (node:test, vitest, jest), in-process, without a port or a fork.
 *
 *   import { startTopology } from 'actorrt/testing';
 *   const app = await startTopology('actorrt.yml', { resources: { db: { file: ':memory:' } } });
 *   const res = await app.request({ method: 'GET', url: '/hello/you' });
 *   assert.equal(res.status, 200);
 *   await app.close();
 *
 * Guide: docs/actors.md#testing-actors.
 */
export { startTopology, TestTopology, type TopologyOptions } from './topology.js';
export { testActor, ActorTest, type ActorTestOptions, type ActorTestReply, type AskAnswer, type RecordedAsk, type TestActorRequest } from './actor.js';
export { TestClock } from './clock.js';
export type { TestRequest, TestResponse } from './http.js';
export type { LogRecord } from './logs.js';
export type { LoadOptions, ResourceSettings, TopologySource } from './load.js';
export type { Clock } from '../runtime/clock.js';
