import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { logsWith, writeProject } from '../helpers.js';
import type { AutoscaleStatus } from '../../runtime/autoscale/autoscaler.js';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { call, noFailedRequest, runCli, startInstance, statusOf, steadyLoad, until } from './instance.js';

// Through the real CLI: pools that size themselves under load and come back when it goes, with
// not one failed request, and operators in charge (scale pins, reload resumes, the file bounds).
// Windows are short here so a test takes seconds; the decision itself is tested against traces
// in test/runtime/autoscale-decide.test.ts, and measured in `npm run bench` (BENCH_ONLY=autoscale).

const ACTORS = {
  // Awaits 20 ms: an I/O-bound actor (a database call).
  'actors/io.mjs': 'export default { async receive() { await new Promise((r) => setTimeout(r, 20)); return { pid: process.pid }; } };\n',
};

/** The topology: pool `io` of each kind, autoscaled with windows short enough for a test. */
function topology(pool: string, autoscale = '{ min: 1, max: 8, interval: 250ms, up: { window: 1s }, down: { window: 3s } }'): string {
  return `version: 1
http: { workers: 2, shutdownTimeout: 5s }
admin: { metrics: false }
pools:
  io:
    actor: ./actors/io.mjs
${pool}
    autoscale: ${autoscale}
routes:
  - match: { path: /io }
    pool: io
`;
}

function scaleOf(s: InstanceStatus): AutoscaleStatus {
  const a = s.pools.find((p) => p.name === 'io')?.autoscale;
  assert.ok(a !== undefined, `pool io has an autoscale status: ${JSON.stringify(s.pools)}`);
  return a;
}

for (const [kind, pool, unit, busy] of [
  ['an inline pool', '    size: 1', 'size', 12],
  ['a thread pool', '    threads: 1\n    size: 2', 'threads', 12],
  ['an isolated pool', '    processes: 1\n    size: 2', 'processes', 8],
] as const) {
  test(`${kind} grows its ${unit} under load and comes back to min once the load is gone, without one failed request`, { timeout: 90_000 }, async (t) => {
    // Thread and isolated pools default to the utilization signal (CPU-bound work); these actors
    // await, so the test asks for inflight, the signal of I/O-bound pools.
    const file = writeProject(topology(pool,
      `{ min: 1, max: ${unit === 'size' ? 8 : 3}, signal: inflight, interval: 250ms, up: { window: 1s }, down: { window: 3s } }`), ACTORS);
    const app = await startInstance(file, ['--no-watch'], t);
    assert.equal(scaleOf(await statusOf(app)).current, 1);
    const load = steadyLoad(app.url, ['/io'], busy, t);
    const grown = await until(app, `${unit} grows past 1 under ${busy} requests in flight`, (s) => scaleOf(s).changes.up >= 1, 30_000);
    assert.equal(scaleOf(grown).unit, unit);
    assert.ok(scaleOf(grown).current >= 2);
    await until(app, 'the signal is read at the new size', (s) => scaleOf(s).value !== undefined, 10_000);
    assert.ok(await noFailedRequest(load) > 0);
    const back = await until(app, `${unit} back at min once idle`, (s) => scaleOf(s).current === 1 && !/^changing/.test(scaleOf(s).now), 30_000);
    assert.ok(scaleOf(back).changes.down >= 1);
    assert.match(scaleOf(back).last?.reason ?? '', /inflight at most .* per actor over 1\.5s \(target 1, below it for 3s\)/);
    // One log line per change, saying what, from, to and why.
    const lines = logsWith(app.stdout() + app.stderr(), { event: 'autoscale', pool: 'io', unit });
    assert.equal(lines.length, scaleOf(back).changes.up + scaleOf(back).changes.down);
    assert.ok(lines.every((l) => typeof l['from'] === 'number' && typeof l['to'] === 'number' && typeof l['reason'] === 'string'));
    assert.equal((await call(`${app.url}/io`)).status, 200);
    assert.equal(await app.stop(), 0);
  });
}

test('actorrt scale pins an autoscaled pool until the next reload; --write is refused; a reload resumes and applies new bounds; the file turns it off', { timeout: 90_000 }, async (t) => {
  const file = writeProject(topology('    size: 2'), ACTORS);
  const app = await startInstance(file, ['--no-watch'], t);
  const pinned = await runCli(['scale', '--pid-file', app.pidFile, 'io=5']);
  assert.equal(pinned.code, 0, pinned.stderr);
  assert.match(pinned.stdout, /pool io: autoscaling paused at size 5 until the next reload/);
  let s = await statusOf(app);
  assert.deepEqual([scaleOf(s).current, scaleOf(s).pinned], [5, 5]);
  assert.match(scaleOf(s).now, /pinned at 5 by actorrt scale until the next reload/);
  // Idle for longer than the down window: a pinned pool stays where the operator put it.
  const idleSince = Date.now();
  await until(app, 'samples at the pinned size', (x) => scaleOf(x).value !== undefined && Date.now() - idleSince > 4000, 20_000);
  assert.equal(scaleOf(await statusOf(app)).current, 5);

  const write = await runCli(['scale', '--pid-file', app.pidFile, 'io=3', '--write', file]);
  assert.notEqual(write.code, 0, write.stdout + write.stderr);
  assert.match(write.stderr, /ACTORRT_E_RELOAD_REFUSED.*pool "io" autoscales its size: --write would only change the size it starts with; nothing was changed/);
  assert.match(write.stderr, /autoscale\.min \/ max/);
  assert.match(readFileSync(file, 'utf8'), /size: 2/, 'the file is left alone');

  // New bounds: max 3. The reload resumes autoscaling from the pinned size, clamped into them.
  writeFileSync(file, readFileSync(file, 'utf8').replace('max: 8', 'max: 3'));
  const reload = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /pool io: autoscaling resumed from size 3 \(actorrt scale had pinned it at 5, clamped into the bounds\)/);
  s = await statusOf(app);
  assert.deepEqual([scaleOf(s).current, scaleOf(s).max, scaleOf(s).pinned], [3, 3, undefined]);
  await until(app, 'autoscaling again: idle, back to min', (x) => scaleOf(x).current === 1, 30_000);

  // The file turns it off: the pool takes the file's size and status shows no autoscaler.
  writeFileSync(file, readFileSync(file, 'utf8').replace(/\n {4}autoscale: .*\n/, '\n'));
  assert.equal((await runCli(['reload', '--pid-file', app.pidFile])).code, 0);
  s = await statusOf(app);
  const io = s.pools.find((p) => p.name === 'io');
  assert.deepEqual([io?.size, io?.autoscale], [2, undefined]);
  assert.equal(await app.stop(), 0);
});

test('a reload that changes something else keeps the size the autoscaler chose', { timeout: 90_000 }, async (t) => {
  const file = writeProject(topology('    size: 1', '{ min: 1, max: 8, interval: 250ms, up: { window: 1s }, down: { window: 60s } }'), ACTORS);
  const app = await startInstance(file, ['--no-watch'], t);
  const load = steadyLoad(app.url, ['/io'], 12, t);
  const grown = scaleOf(await until(app, 'grown under load', (s) => scaleOf(s).current >= 4, 30_000)).current;
  await noFailedRequest(load);
  writeFileSync(file, readFileSync(file, 'utf8').replace('shutdownTimeout: 5s', 'shutdownTimeout: 6s'));
  const reload = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.equal(scaleOf(await statusOf(app)).current, grown, 'not back to the file\'s size: 1');
  assert.equal(await app.stop(), 0);
});

test('a synchronous CPU-bound actor in a pool process counts as busy (its work runs between two timer turns)', { timeout: 60_000 }, async (t) => {
  const file = writeProject(topology('    processes: 1', '{ min: 1, max: 1, interval: 250ms, up: { window: 1s }, down: { window: 3s } }'), {
    'actors/io.mjs': 'export default { receive() { const end = performance.now() + 3; while (performance.now() < end) { /* CPU */ } return { pid: process.pid }; } };\n',
  });
  const app = await startInstance(file, ['--no-watch'], t);
  const load = steadyLoad(app.url, ['/io'], 6, t);
  // One actor with 6 requests always waiting for it: busy nearly all the time (a fresh-user run read 0 here).
  const busy = await until(app, 'the utilization reads the actor busy', (s) => (scaleOf(s).value ?? 0) > 0.5, 30_000);
  assert.equal(scaleOf(busy).signal, 'utilization');
  await noFailedRequest(load);
  assert.equal(await app.stop(), 0);
});

test('in front of a hung dependency (every request times out) the pool does not grow to max: one growth that pays nothing, then back', { timeout: 90_000 }, async (t) => {
  const file = writeProject(`version: 1
http: { workers: 2, shutdownTimeout: 5s }
admin: { metrics: false }
pools:
  io:
    actor: ./actors/io.mjs
    size: 2
    timeout: 200ms
    autoscale: { min: 1, max: 32, interval: 250ms, up: { window: 1s }, down: { window: 60s } }
routes:
  - match: { path: /io }
    pool: io
`, { 'actors/io.mjs': 'export default { async receive() { await new Promise((r) => setTimeout(r, 3000)); return {}; } };\n' });
  const app = await startInstance(file, ['--no-watch'], t);
  const load = steadyLoad(app.url, ['/io'], 16, t);
  const back = await until(app, 'a growth, then back to where it was', (s) => scaleOf(s).changes.down >= 1, 45_000);
  assert.equal(scaleOf(back).current, 2);
  assert.match(scaleOf(back).last?.reason ?? '', /throughput did not grow from 2 to \d+ \(0 -> 0 req\/s\): back to 2/);
  const stopped = await load.stop();
  assert.equal(stopped.failed, stopped.total, 'every request timed out: the dependency hangs');
  assert.equal(scaleOf(await statusOf(app)).changes.up, 1, 'grown once, never again');
  assert.equal(await app.stop(), 0);
});
