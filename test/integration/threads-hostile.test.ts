import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { eventually, logsWith, writeProject } from '../helpers.js';
import { call, runCli, startInstance, statusOf, until, type Instance } from './instance.js';

/** Thread pools against actors and timings that misbehave (found by a hostile run of issue 24). */

const WHERE = `export default {
  receive: (state, req, ctx) => {
    if (req.params.what === 'exit') process.exit(1);
    return { pid: ctx.self.pid, thread: ctx.self.thread };
  },
};
`;

interface Where { readonly pid: number; readonly thread: number }

/** The distinct threads answering 60 requests to /thr/where. */
async function threadsSeen(app: Instance): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < 60; i++) {
    const a = await call(`${app.url}/thr/where`);
    assert.equal(a.status, 200, a.text);
    seen.add((a.json as Where).thread);
  }
  return seen;
}

const actorsOf = async (app: Instance): Promise<number | undefined> => (await statusOf(app)).pools.find((p) => p.name === 'thr')?.actorsRunning;

test('a scale during a lost thread\'s restart back-off leaves the pool at the scaled count (the replacement is not added on top)', { timeout: 90_000 }, async (t) => {
  const file = writeProject(`version: 1
http: { port: 0, host: 127.0.0.1, workers: 1 }
pools:
  thr:
    actor: ./actors/where.mjs
    threads: 2
    supervision: { maxRestarts: 50, within: 1m, backoff: { min: 3s, max: 3s } }
routes:
  - match: { path: /thr/:what }
    pool: thr
`, { 'actors/where.mjs': WHERE });
  const app = await startInstance(file, ['--no-watch'], t);
  const replaced = (): ReturnType<typeof logsWith> => logsWith(app.stderr(), { pool: 'thr', event: 'thread-replaced' });
  assert.equal((await call(`${app.url}/thr/exit`)).status, 503);
  await eventually('the first lost thread is replaced at once', () => replaced().length === 1);
  await until(app, 'two threads serving again', (s) => s.pools.find((p) => p.name === 'thr')?.actorsRunning === 2);
  // The second loss within the window waits out the back-off before its replacement starts.
  assert.equal((await call(`${app.url}/thr/exit`)).status, 503);
  await eventually('the second loss is logged with a back-off', () => replaced().length === 2);
  assert.ok(Number(replaced()[1]?.['delay']) > 0, 'the second replacement waits');
  const scaled = await runCli(['scale', 'thr.threads=3', '--pid-file', app.pidFile]);
  assert.equal(scaled.code, 0, scaled.stderr);
  await eventually('the back-off ended without a fourth thread', () => logsWith(app.stderr(), { pool: 'thr', event: 'replacement-skipped' }).length === 1, 15_000);
  assert.equal(await actorsOf(app), 3);
  assert.equal((await threadsSeen(app)).size, 3);
  assert.equal(await app.stop(), 0);
});

const BASE = `version: 1
http: { port: 0, host: 127.0.0.1, workers: 1 }
pools:
  thr: { actor: ./actors/where.mjs, threads: 1 }
routes:
  - match: { path: /thr/:what }
    pool: thr
`;

/**
 * Start BASE, then reload it with `pool` (a pools: entry) added, whose `actor` file fails to start;
 * the reload must fail with `refused`, the previous topology serve on, and the front worker end
 * every thread the failed pool started.
 */
async function reloadAddingFails(t: { after(fn: () => unknown): void }, pool: string, actor: Record<string, string>, refused: RegExp): Promise<void> {
  const file = writeProject(BASE, { 'actors/where.mjs': WHERE, ...actor });
  const app = await startInstance(file, ['--no-watch'], t);
  const { pid } = (await call(`${app.url}/thr/where`)).json as Where;
  const tasks = (): number => readdirSync(`/proc/${pid}/task`).length;
  const before = tasks();
  writeFileSync(file, BASE.replace('routes:', `  ${pool}\nroutes:`));
  const reload = await runCli(['reload', '--pid-file', app.pidFile], 60_000);
  assert.match(reload.stderr + reload.stdout, refused);
  assert.equal((await call(`${app.url}/thr/where`)).status, 200, 'the previous topology serves on');
  await eventually('the failed pool\'s threads were ended', () => tasks() <= before, 10_000, () => `${tasks()} threads, ${before} before`);
  assert.equal(await app.stop(), 0);
}

test('a thread pool whose actor loops at import time fails a reload with ACTOR_INIT naming it, and its thread is ended', { timeout: 90_000 }, async (t) => {
  await reloadAddingFails(t, 'spin: { actor: ./actors/spin.mjs, threads: 1 }', { 'actors/spin.mjs': 'for (;;) { /* never done importing */ }\nexport default { receive: () => ({}) };\n' },
    /ACTORRT_E_ACTOR_INIT: pool "spin": thread 0 could not start: it was not ready within 20000 ms/);
});

test('a reload adding a thread pool one of whose threads fails init() ends the threads that did start', { timeout: 60_000 }, async (t) => {
  const halfBroken = 'export default { init: (ctx) => { if (ctx.self.thread === 1) throw new Error(\'thread 1 cannot start\'); return {}; }, receive: () => ({}) };\n';
  await reloadAddingFails(t, 'half: { actor: ./actors/half.mjs, threads: 3 }', { 'actors/half.mjs': halfBroken },
    /ACTORRT_E_ACTOR_INIT: pool "half": thread 1 could not start: init\(\) failed: thread 1 cannot start/);
});

test('an init() awaiting a promise nothing settles fails the start with ACTOR_INIT saying so', { timeout: 60_000 }, async () => {
  const file = writeProject(`version: 1
http: { port: 0, host: 127.0.0.1, workers: 1 }
pools:
  thr: { actor: ./actors/hang.mjs, threads: 1 }
routes:
  - match: { path: /thr }
    pool: thr
`, { 'actors/hang.mjs': 'export default { init: () => new Promise(() => {}), receive: () => ({}) };\n' });
  const r = await runCli(['start', file, '--port', '0'], 40_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ACTORRT_E_ACTOR_INIT {2}pool "thr": thread 0 could not start: it exited with code 0 before its actors were ready/);
});
