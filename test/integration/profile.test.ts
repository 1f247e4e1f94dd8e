import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { eventually, logsWith, ROOT, tempDir, within } from '../helpers.js';
import { call, callFresh, runCli, startInstance, statusOf, steadyLoad, until, type Instance } from './instance.js';

/**
 * `actorrt profile` against a running instance, through the real CLI: the process profiles itself
 * with node:inspector and writes the file; the command prints the top functions from it.
 */
const TOPOLOGY = resolve(ROOT, 'test/fixtures/profile/actorrt.yml');
/**
 * A row of the CPU summary for the fixture actor's work: crunchNumbers (line 6 of work.ts), or
 * receive (line 21) once V8 has inlined crunchNumbers into it (it counts inlined time as the caller's).
 */
const ACTOR_CPU = /\n\s+[\d.]+\s+[\d.]+%\s+(crunchNumbers\s+actors\/work\.ts:6|(receive|\(anonymous\))\s+actors\/work\.ts:21)\n/;

/** Pids of the serving processes of a pool (or of the front workers), oldest first. */
function pids(s: InstanceStatus, group: string): number[] {
  const list = group === 'front' ? s.workers : s.pools.find((p) => p.name === group)?.processes ?? [];
  return list.filter((x) => x.state === 'up').flatMap((x) => (x.pid === undefined ? [] : [x.pid]));
}

function first(s: InstanceStatus, group: string): number {
  const pid = pids(s, group)[0];
  assert.ok(pid !== undefined, `${group} has a serving process`);
  return pid;
}

/**
 * Load on a front route with a new connection per request: the kernel hands each to either front
 * worker, so both are busy (a pooled client's few connections may all land on one of them).
 */
function freshLoad(url: string, path: string, loops: number): { stop(): Promise<void> } {
  let running = true;
  const all = Array.from({ length: loops }, async () => {
    while (running) await callFresh(url, path).catch(() => undefined);
  });
  return { stop: async () => { running = false; await Promise.all(all); } };
}

interface CpuProfileFile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

describe('actorrt profile', () => {
  let app: Instance;
  let dir: string;
  const profile = (args: readonly string[], timeout = 60_000): ReturnType<typeof runCli> => runCli(['profile', ...args, TOPOLOGY, '--pid-file', app.pidFile], timeout);
  before(async () => {
    app = await startInstance(TOPOLOGY);
    dir = tempDir('profile');
  });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  test('a CPU profile of a front worker under load: a .cpuprofile (nodes, samples), the actor\'s function at its .ts line in the top', { timeout: 60_000 }, async (t) => {
    const worker = first(await statusOf(app), 'front');
    const load = freshLoad(app.url, '/inline/cpu', 4);
    t.after(() => load.stop());
    const out = join(dir, 'front.cpuprofile');
    const r = await profile(['front', '--seconds', '2', '--out', out]);
    await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`CPU profile of worker \\d+ \\(pid ${worker}\\)`), 'the first serving front worker by default');
    assert.match(r.stdout, ACTOR_CPU, r.stdout);
    assert.match(r.stdout, new RegExp(`written ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`));
    const file = JSON.parse(readFileSync(out, 'utf8')) as CpuProfileFile;
    assert.ok(file.nodes.length > 0 && file.samples.length > 0, 'nodes and samples');
    assert.equal(file.timeDeltas.length, file.samples.length);
    // The .ts lines (0-based) of crunchNumbers and receive, mapped back from tsx's output (where they sit on line 1 or 2).
    const actor = file.nodes.filter((n) => n.callFrame.url.endsWith('/test/fixtures/profile/actors/work.ts')).map((n) => `${n.callFrame.functionName}:${n.callFrame.lineNumber}`);
    assert.ok(actor.includes('crunchNumbers:5') || actor.some((f) => f.endsWith(':20')), `the actor's functions at their .ts lines: ${actor.join(', ')}`);
    assert.equal(statSync(out).mode & 0o777, 0o600, 'readable by its owner only');
  });

  test('an inline pool is profiled in a front worker (--process picks which), and the output says so', { timeout: 60_000 }, async () => {
    const second = pids(await statusOf(app), 'front')[1];
    assert.ok(second !== undefined);
    const r = await profile(['inline', '--process', '1', '--seconds', '1', '--out', join(dir, 'inline.cpuprofile')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`CPU profile of worker 1 \\(pid ${second}\\), a front worker: pool inline is inline`));
  });

  test('a CPU profile of an isolated pool\'s process names the actor\'s function', { timeout: 60_000 }, async (t) => {
    const iso = first(await statusOf(app), 'iso');
    const load = steadyLoad(app.url, ['/iso/cpu'], 4, t);
    const out = join(dir, 'iso.cpuprofile');
    const r = await profile(['iso', '--pid', String(iso), '--seconds', '2', '--out', out]);
    await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`CPU profile of iso process 0 \\(pid ${iso}\\)`));
    assert.match(r.stdout, ACTOR_CPU, r.stdout);
    const file = JSON.parse(readFileSync(out, 'utf8')) as CpuProfileFile;
    assert.ok(file.nodes.length > 0 && file.samples.length > 0);
  });

  test('--heap writes a sampling heap profile and prints the functions that allocated most', { timeout: 60_000 }, async (t) => {
    const load = steadyLoad(app.url, ['/iso/alloc'], 4, t);
    const out = join(dir, 'iso.heapprofile');
    const r = await profile(['iso', '--heap', '--seconds', '2', '--out', out]);
    await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /heap profile of iso process 0/);
    assert.match(r.stdout, /fillBuffers\s+actors\/work\.ts:13\n/, r.stdout);
    const file = JSON.parse(readFileSync(out, 'utf8')) as { head: { callFrame: unknown; children: unknown[] }; samples: unknown[] };
    assert.ok(file.head.callFrame !== undefined && file.head.children.length > 0, 'a call tree');
    assert.ok(file.samples.length > 0, 'allocation samples');
  });

  test('--heap-snapshot writes a snapshot; the watchdog leaves the process alone while it is blocked by it', { timeout: 120_000 }, async () => {
    const big = first(await statusOf(app), 'big');
    const out = join(dir, 'big.heapsnapshot');
    const r = await profile(['big', '--heap-snapshot', '--out', out], 110_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`heap snapshot of big process 0 \\(pid ${big}\\)`));
    const file = JSON.parse(readFileSync(out, 'utf8')) as { snapshot: { meta: { node_fields: unknown[] } }; nodes: unknown[] };
    assert.ok(file.snapshot.meta.node_fields.length > 0 && file.nodes.length > 0, 'a heap snapshot');
    assert.deepEqual(pids(await statusOf(app), 'big'), [big], 'the same process serves on');
    assert.equal(logsWith(app.stderr(), { event: 'unresponsive', childPid: big }).length, 0, 'the watchdog did not kill it');
    assert.equal(logsWith(app.stderr(), { event: 'stall', pid: big }).length, 0, 'its stall thread knew the block was on purpose');
  });

  test('--heap-snapshot is refused when the process lacks room for it (below maxRss), naming the figures', { timeout: 60_000 }, async () => {
    const heavy = first(await statusOf(app), 'heavy');
    const out = join(dir, 'heavy.heapsnapshot');
    const r = await profile(['heavy', '--heap-snapshot', '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`ACTORRT_E_PROFILE_MEMORY  heavy process 0 \\(pid ${heavy}\\): a heap snapshot of this process needs about \\d+ MiB \\(16 times its live heap of \\d+ MiB`));
    assert.match(r.stderr, /MiB below its maxRss \(160 MiB, rss \d+ MiB\), [\d.]+ [MG]iB free on the machine/);
    assert.match(r.stderr, /--heap/, 'the hint names the sampling profile');
    assert.equal(existsSync(out), false, 'no file');
    assert.equal((await call(`${app.url}/heavy`)).status, 200, 'the process serves on');
  });

  test('an unknown pool, process index or pid is a coded error listing what exists; bad options are usage errors', { timeout: 60_000 }, async () => {
    const s = await statusOf(app);
    const nope = await profile(['nope']);
    assert.equal(nope.code, 1);
    assert.match(nope.stderr, /ACTORRT_E_PROFILE_TARGET  the running topology has no pool named "nope"; targets: front, inline, iso, heavy, big/);
    const index = await profile(['iso', '--process', '7']);
    assert.equal(index.code, 1);
    assert.match(index.stderr, new RegExp(`ACTORRT_E_PROFILE_TARGET  iso: no process of pool iso with index 7 to profile; serving: 0 \\(pid ${first(s, 'iso')}\\)`));
    const pid = await profile(['front', '--pid', '1']);
    assert.equal(pid.code, 1);
    assert.match(pid.stderr, new RegExp(`ACTORRT_E_PROFILE_TARGET  front: no front worker with pid 1 to profile; serving: 0 \\(pid ${first(s, 'front')}\\), 1 \\(pid`));
    const usage = [['iso', '--heap', '--heap-snapshot'], ['iso', '--seconds', '0'], ['iso', '--process', '0', '--pid', '1']].map((args) => profile(args));
    for (const r of [...await Promise.all(usage), await runCli(['profile', '--pid-file', app.pidFile])]) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /ACTORRT_E_USAGE/);
    }
  });

  test('a second profile of the same process is refused while one runs; a process that dies mid-profile fails it at once', { timeout: 120_000 }, async () => {
    const iso = first(await statusOf(app), 'iso');
    const out = join(dir, 'killed.cpuprofile');
    const long = profile(['iso', '--seconds', '60', '--out', out], 110_000);
    await eventually('the first profile started', () => logsWith(app.stderr(), { event: 'profile-started', pid: iso, path: out }).length === 1, 20_000);
    const second = await profile(['iso', '--seconds', '1', '--out', join(dir, 'second.cpuprofile')]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /ACTORRT_E_PROFILE_BUSY  iso process 0 \(pid \d+\): a cpu profile of this process is already being taken/);
    process.kill(iso, 'SIGKILL');
    // Well before its 60 s: the call fails when the process exits, it is not waited out.
    const killed = await within('the profile of a killed process', long, 30_000, 'did not end');
    assert.equal(killed.code, 1);
    assert.match(killed.stderr, new RegExp(`ACTORRT_E_PROFILE_FAILED  iso process 0 \\(pid ${iso}\\) exited during the cpu profile; no file was written`));
    await until(app, 'the killed process replaced', (s) => pids(s, 'iso').length === 1 && !pids(s, 'iso').includes(iso));
    await eventually('the pool answers again', async () => (await call(`${app.url}/iso/cpu`)).status === 200, 10_000);
  });
});
