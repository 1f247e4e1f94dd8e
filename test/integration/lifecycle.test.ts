import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, eventually, logLines, logsWith, LEVEL, ROOT, tempDir, within, writeProject } from '../helpers.js';
import { call, callFresh, errorOf, runCli, startInstance, until, type Answer, type Instance, hold, refused } from './instance.js';

const TOPOLOGY = 'test/fixtures/runtime/actorrt.yml';

/** Wait until every front worker is draining (status shows them retiring): the stop has begun. */
async function draining(app: Instance): Promise<void> {
  await until(app, 'the front workers are draining', (s) => s.workers.length > 0 && s.workers.every((w) => w.state === 'retiring'));
}

/** A raw connection to `url` that sent a GET of `path`: what came back once the server closed it. */

test('SIGTERM lets in-flight requests finish, then exits 0 and removes the pid file and its runtime folder', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, [], t);
  assert.ok(existsSync(app.pidFile));
  const runtimeDir = readFileSync(app.pidFile, 'utf8').split('\n')[1] ?? '';
  assert.ok(runtimeDir !== '' && existsSync(runtimeDir), 'the pid file names the runtime folder');
  const inflight = await hold(app);
  const code = app.stop('SIGTERM');
  await draining(app);
  assert.equal(inflight.settled(), false, 'the held request is still in flight');
  inflight.release();
  const answer = await inflight.answer;
  assert.equal(answer.status, 200, 'the in-flight request completed');
  assert.deepEqual(answer.json, { released: true });
  assert.equal(await code, 0);
  assert.ok(!existsSync(app.pidFile), 'pid file removed');
  assert.ok(!existsSync(runtimeDir), 'runtime folder (sockets) removed');
});

test('stops accepting new connections while draining, and the in-flight request still completes', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, ['--workers', '1'], t);
  const inflight = await hold(app);
  const code = app.stop('SIGTERM');
  await draining(app);
  // Once the worker has closed its copy of the listening socket (the primary closed its own first),
  // the kernel refuses new connections: a client (or a load balancer) learns at once to go elsewhere.
  await eventually('a new connection is refused while the instance drains', () => refused(app.url), 10_000);
  assert.equal(inflight.settled(), false, 'the held request is still in flight');
  inflight.release();
  assert.equal((await inflight.answer).status, 200);
  assert.equal(await code, 0);
});

test('actorrt stop stops a running instance gracefully', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, [], t);
  const inflight = await hold(app);
  const stopping = runCli(['stop', '--pid-file', app.pidFile]);
  await draining(app);
  assert.equal(inflight.settled(), false, 'the held request is still in flight');
  inflight.release();
  const r = await stopping;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^stopped \(pid \d+\)/);
  assert.equal((await inflight.answer).status, 200);
  assert.equal(await app.exited, 0);
});

test('actorrt stop without a running instance exits 1 with a code', { timeout: 60_000 }, async () => {
  const r = await runCli(['stop', '--pid-file', '/nonexistent/actorrt.pid']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ACTORRT_E_NOT_RUNNING/);
});

test('actorrt status without a running instance exits 1 with a code', { timeout: 60_000 }, async () => {
  const r = await runCli(['status', '--pid-file', '/nonexistent/actorrt.pid']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ACTORRT_E_NOT_RUNNING/);
});

test('a second signal forces the exit', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, ['--workers', '1'], t);
  const inflight = await hold(app); // never released: the drain would last the whole shutdownTimeout (20 s)
  inflight.answer.catch(() => undefined);
  app.child.kill('SIGTERM');
  await draining(app); // the first signal was taken
  app.child.kill('SIGTERM');
  // A drain that ran out would exit 0; only the forced exit says 130.
  assert.equal(await within('the exit after a second signal', app.exited, 30_000), 130);
});

test('a front worker killed with SIGKILL is restarted while the others keep serving', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, [], t);
  const pids = new Set<number>();
  // Fresh connections: pooled keep-alive sockets may all belong to one worker.
  for (let i = 0; i < 100 && pids.size < 2; i++) pids.add(((await callFresh(app.url, '/pid')).json as { pid: number }).pid);
  assert.equal(pids.size, 2, 'both workers answered');
  const [victim] = [...pids];
  process.kill(victim as number, 'SIGKILL');
  // Every new request keeps succeeding: the surviving worker takes them while the victim
  // restarts. (Fresh connections: a keep-alive socket the dead worker owned is reset by the kernel.)
  const seen = new Set<number>();
  await eventually('a new worker process answers', async () => {
    const a = await callFresh(app.url, '/pid');
    assert.equal(a.status, 200, 'every request is answered meanwhile');
    seen.add((a.json as { pid: number }).pid);
    return [...seen].some((p) => !pids.has(p));
  }, 10_000, () => `pids seen: ${[...seen].join(', ')}`);
  assert.ok(!seen.has(victim as number), 'the killed worker is gone');
  assert.equal(logsWith(app.stderr(), { event: 'restarting', childPid: victim as number, signal: 'SIGKILL', worker: (v) => typeof v === 'number' }).length, 1,
    'the restart is logged with the pid and signal of the worker that died');
  assert.equal(await app.stop(), 0);
});

test('start-up stops with a clear error naming the file when an actor module has no valid export', { timeout: 60_000 }, async () => {
  const r = await runCli(['start', 'test/fixtures/runtime/bad-module.yml', '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /actorrt: ACTORRT_E_ACTOR_MODULE {2}actor module .*no-default\.mjs has no valid default export {2}\(export default defineActor/);
  assert.doesNotMatch(r.stdout, /ready/);
});

test('start-up stops with ACTOR_INIT when an actor init() throws, without respawning', { timeout: 60_000 }, async () => {
  const r = await runCli(['start', 'test/fixtures/runtime/bad-init.yml', '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /actorrt: ACTORRT_E_ACTOR_INIT {2}pool "db": init\(\) failed: cannot reach the database/);
  assert.equal(logsWith(r.stderr, { role: 'worker', level: LEVEL.error, code: 'ACTORRT_E_ACTOR_INIT' }).length, 1, 'one attempt, no hot loop');
});

test('start refuses an invalid topology with file:line:col errors and exit 1', { timeout: 60_000 }, async () => {
  const r = await runCli(['start', 'test/fixtures/runtime/actorrt.yml', '--port', 'eighty']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--port must be a whole number/);
  const bad = await runCli(['start', 'examples/hello/README.md']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /README\.md:\d+:\d+ {2}ACTORRT_E_CONFIG_/);
});

test('an unknown route still gets an error body after a crash elsewhere (the service keeps serving)', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, ['--workers', '1'], t);
  await call(`${app.url}/crashy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"poison":true}' });
  const echo = await call(`${app.url}/echo/1`);
  assert.equal(echo.status, 200);
  assert.equal(errorOf(await call(`${app.url}/nope`)).code, 'ACTORRT_E_NOT_FOUND');
  assert.equal(await app.stop(), 0);
});

test('a second start of a running topology exits 1 at once, naming the running pid', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, ['--workers', '1'], t);
  const second = await runCli(['start', TOPOLOGY, '--port', '0', '--pid-file', app.pidFile]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`ACTORRT_E_ALREADY_RUNNING {2}.*already running \\(pid ${app.child.pid ?? 0},`));
  assert.deepEqual(logLines(second.stderr), [], 'refused before starting anything: no process of its own logged a line');
  assert.doesNotMatch(second.stdout, /ready/);
  assert.equal((await call(`${app.url}/readyz`)).status, 200, 'the first keeps serving');
});

test('the instance stops gracefully when the process that started it exits (npx, npm start, a wrapper)', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('parent');
  const pidFile = join(dir, 'actorrt.pid');
  // A wrapper that starts actorrt and is then killed, as `kill <npx pid>` does to npx.
  const wrapper = spawn(process.execPath, ['-e', `
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, [${JSON.stringify(CLI)}, 'start', ${JSON.stringify(join(ROOT, TOPOLOGY))}, '--port', '0', '--workers', '1', '--pid-file', ${JSON.stringify(pidFile)}], { stdio: ['ignore', 'inherit', 'ignore'] });
    process.stdout.write('child ' + child.pid + '\\n');
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'ignore'] });
  let primary: number | undefined;
  t.after(() => {
    wrapper.kill('SIGKILL');
    try { if (primary !== undefined) process.kill(primary, 'SIGKILL'); } catch { /* already gone */ }
  });
  let out = '';
  wrapper.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  await eventually('the wrapper started actorrt', () => /child (\d+)/.test(out), 20_000);
  primary = Number(/child (\d+)/.exec(out)?.[1]);
  await eventually('actorrt is ready under the wrapper', () => /actorrt ready on/.test(out), 30_000);
  wrapper.kill('SIGKILL');
  const pid = primary;
  await stoppedGracefully('the primary stopped after its parent went away', pid, pidFile, 15_000);
});

/** Wait until process `pid` is gone, then check it removed its pid file (a graceful stop, not a kill). */
async function stoppedGracefully(what: string, pid: number, pidFile: string, timeout: number): Promise<void> {
  await eventually(what, () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, timeout);
  assert.ok(!existsSync(pidFile), 'it stopped gracefully (pid file removed)');
}

test('an instance whose launcher dies while it is still starting stops once ready, instead of serving orphaned', { timeout: 60_000 }, async (t) => {
  // An actor whose init logs, then takes 1.5 s: the launcher dies between the two, mid-start.
  const topology = writeProject(`version: 1
pools:
  slow: { actor: ./actors/slow.mjs }
routes:
  - match: { path: /slow }
    pool: slow
`, { 'actors/slow.mjs': "export default { init: async (ctx) => { ctx.log.info('init begins'); await new Promise((r) => setTimeout(r, 1500)); return {}; }, receive: () => ({}) };\n" });
  const pidFile = join(tempDir('parent-early'), 'actorrt.pid');
  // A test runner killed mid-start, a terminal closed while it starts.
  const launcher = spawnSync(process.execPath, ['-e', `
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, [${JSON.stringify(CLI)}, 'start', ${JSON.stringify(topology)}, '--port', '0', '--workers', '1', '--no-watch', '--pid-file', ${JSON.stringify(pidFile)}], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    child.stderr.once('data', () => { process.stdout.write(String(child.pid)); process.kill(process.pid, 'SIGKILL'); });
  `], { encoding: 'utf8', timeout: 30_000 });
  const pid = Number(launcher.stdout);
  assert.ok(pid > 0, `the launcher printed the primary's pid: ${launcher.stdout} ${launcher.stderr}`);
  t.after(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } });
  await stoppedGracefully('the orphaned primary stopped', pid, pidFile, 40_000);
});

test('front workers killed from outside again and again are restarted every time: a serving instance keeps serving', { timeout: 120_000 }, async (t) => {
  const file = writeProject(`version: 1
http: { workers: 2, supervision: { maxRestarts: 2, within: 30s, backoff: { min: 10ms, max: 50ms } } }
pools:
  api: { actor: ./actors/pid.mjs }
routes:
  - match: { method: GET, path: /pid }
    pool: api
`, { 'actors/pid.mjs': 'export default { receive: () => ({ pid: process.pid }) };\n' });
  const app = await startInstance(file, [], t);
  const workerPids = async (): Promise<number[]> => {
    const { stdout } = await runCli(['status', '--pid-file', app.pidFile, '--json']);
    return (JSON.parse(stdout) as { workers: Array<{ pid?: number; up: boolean }> }).workers.filter((w) => w.up).map((w) => w.pid ?? 0);
  };
  // Eight kills: more than maxRestarts (2) within the window, which only counts failed starts.
  for (let kill = 0; kill < 8; kill++) {
    const before = await workerPids();
    const victim = before[kill % 2] as number;
    process.kill(victim, 'SIGKILL');
    await eventually(`worker replaced after kill ${kill + 1}`, async () => {
      const now = await workerPids();
      return now.length === 2 && !now.includes(victim);
    }, 15_000);
  }
  assert.equal((await callFresh(app.url, '/pid')).status, 200);
  const { stdout } = await runCli(['status', '--pid-file', app.pidFile, '--json']);
  assert.equal((JSON.parse(stdout) as { workerRestarts: number }).workerRestarts, 8);
  assert.equal(app.child.exitCode, null, 'the instance did not give up');
  assert.equal(await app.stop(), 0);
});
