import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PidFile } from '../../runtime/primary/pid-file.js';
import type { InstanceStatus, PoolStatus } from '../../runtime/primary/status.js';
import { ROOT } from '../helpers.js';
import { call, callFresh, noFailedRequest, runCli, startInstance, statusOf, steadyLoad, until } from './instance.js';

interface Shape {
  readonly echo?: number | string;
  readonly work?: number;
  readonly workProcesses?: number | string;
  readonly workers?: number;
  readonly port?: number;
  readonly route?: string;
}

/** The reload fixture: an inline pool (echo) and an isolated one (work), sizes as given. */
function topology(s: Shape = {}): string {
  return `# reload fixture: comments and layout must survive actorrt scale --write
version: 1
http:
  port: ${s.port ?? 0}
  host: 127.0.0.1
  workers: ${s.workers ?? 2}
  shutdownTimeout: 5s
pools:
  echo:                      # inline, in every front worker
    actor: ./actors/echo.mjs
    size: ${s.echo ?? 4}
    drainTimeout: 5s
  work:                      # isolated, its own processes
    actor: ./actors/work.mjs
    processes: ${s.workProcesses ?? 1}
    size: ${s.work ?? 1}
    drainTimeout: 5s
routes:
  - match: { method: GET, path: /echo/:id }
    pool: ${s.route ?? 'echo'}
  - match: { method: GET, path: /work }
    pool: work
`;
}

/** A copy of the fixture in a temp folder (removed when the test ends), so tests can edit it. */
function project(t: { after(fn: () => unknown): void }, shape?: Shape): string {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-reload-'));
  cpSync(join(ROOT, 'test/fixtures/reload/actors'), join(dir, 'actors'), { recursive: true });
  const file = join(dir, 'actorrt.yml');
  writeFileSync(file, topology(shape));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return file;
}

/** Save as editors do: write beside, rename over. */
function save(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

function pool(status: InstanceStatus, name: string): PoolStatus {
  const found = status.pools.find((p) => p.name === name);
  assert.ok(found, `status lists pool ${name}`);
  return found;
}

/** The running shape: echo actors per worker (measured in every worker), work processes serving and their actors. */
function shapeOf(s: InstanceStatus): { echo: number; work: number; workProcesses: number; workers: number } {
  const echo = pool(s, 'echo');
  const work = pool(s, 'work');
  const workers = s.workers.filter((w) => w.state === 'up').length;
  return {
    echo: echo.actorsRunning === undefined || workers === 0 ? -1 : echo.actorsRunning / workers,
    work: work.size,
    workProcesses: (work.processes ?? []).filter((p) => p.state === 'up').length,
    workers,
  };
}

/** Reached when nothing is starting or draining and the shape is the one asked for. */
function settled(want: { echo: number; workProcesses: number; workers?: number }) {
  return (s: InstanceStatus): boolean => {
    const shape = shapeOf(s);
    const quiet = s.workers.every((w) => w.state === 'up') && (pool(s, 'work').processes ?? []).every((p) => p.state === 'up');
    return quiet && shape.echo === want.echo && shape.workProcesses === want.workProcesses && (want.workers === undefined || shape.workers === want.workers);
  };
}

/** Sockets in LISTEN state on `port`, from the kernel's own tables (no tool needed). */
function listeningSockets(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local?.endsWith(`:${hex}`) === true) n++;
    }
  }
  return n;
}

/** Pids of the front workers and of the isolated pool's processes. */
function pidsOf(s: InstanceStatus): number[] {
  return [...s.workers, ...(pool(s, 'work').processes ?? [])].flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
}

const LOAD_PATHS = ['/echo/1', '/work?ms=2', '/echo/2', '/work?ms=1'];

/** The fixture started as a user would (`args` added to `start`), at its first shape, under steady load (stopped when the test ends). */
async function startedUnderLoad(t: { after(fn: () => unknown): void }, args: readonly string[] = []) {
  const file = project(t);
  const app = await startInstance(file, args, t);
  const started = await until(app, 'started', settled({ echo: 4, workProcesses: 1, workers: 2 }));
  return { file, app, started, load: steadyLoad(app.url, LOAD_PATHS, 8, t) };
}

test('editing the file resizes an inline pool 4 -> 16 -> 2 and an isolated pool 1 -> 4 -> 1 under load, with no failed request', { timeout: 120_000 }, async (t) => {
  const { file, app, load, started } = await startedUnderLoad(t);
  let previous = started.lastReload?.at;
  for (const [echo, workProcesses] of [[16, 4], [2, 1]] as const) {
    save(file, topology({ echo, workProcesses }));
    // The new sizes show in status as they are applied, the reload's record once it is done: wait for both.
    const done = settled({ echo, workProcesses });
    const s = await until(app, `echo ${echo}, work processes ${workProcesses}`, (st) => done(st) && st.lastReload !== undefined && st.lastReload.at !== previous);
    previous = s.lastReload?.at;
    assert.equal(pool(s, 'echo').size, echo);
    assert.equal(pool(s, 'work').processCount, workProcesses);
    assert.equal(s.lastReload?.trigger, 'file');
    assert.equal(s.lastReload?.applied, true);
  }
  assert.ok(await noFailedRequest(load) > 100, 'the steady load ran');
  assert.equal(await app.stop(), 0);
});

test('SIGHUP after an edit applies it (the watcher off); actorrt reload --dry-run prints the plan without applying it', { timeout: 120_000 }, async (t) => {
  const { file, app, load } = await startedUnderLoad(t, ['--no-watch']);
  save(file, topology({ echo: 16, workProcesses: 4 }));
  const dry = await runCli(['reload', '--pid-file', app.pidFile, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /plan \(dry run, nothing applied\):\n {2}pool echo: size 4 -> 16\n {2}pool work: processes 1 -> 4\n/);
  assert.equal(shapeOf(await statusOf(app)).echo, 4, 'a dry run and a save without the watcher change nothing');
  process.kill(app.child.pid as number, 'SIGHUP');
  let s = await until(app, 'grown by SIGHUP', settled({ echo: 16, workProcesses: 4 }));
  assert.equal(s.lastReload?.trigger, 'signal');
  save(file, topology({ echo: 2, workProcesses: 1 }));
  process.kill(app.child.pid as number, 'SIGHUP');
  s = await until(app, 'shrunk by SIGHUP', settled({ echo: 2, workProcesses: 1 }));
  assert.deepEqual(s.lastReload?.plan, ['pool echo: size 16 -> 2', 'pool work: processes 4 -> 1 (draining 3)']);
  await noFailedRequest(load);
  assert.equal(await app.stop(), 0);
});

test('actorrt scale resizes live, says the file is unchanged, and --write keeps the file\'s comments', { timeout: 120_000 }, async (t) => {
  const { file, app, load } = await startedUnderLoad(t);
  let r = await runCli(['scale', '--pid-file', app.pidFile, 'echo=16', 'work.processes=4']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /applied:\n {2}pool echo: size 4 -> 16\n {2}pool work: processes 1 -> 4\n/);
  assert.match(r.stdout, /the topology file is unchanged: the next reload returns to it/);
  let s = await until(app, 'scaled up', settled({ echo: 16, workProcesses: 4 }));
  assert.equal(s.lastReload?.trigger, 'scale');
  r = await runCli(['scale', '--pid-file', app.pidFile, 'echo=2', 'work.processes=1', 'work.size=2', '--write', file]);
  assert.equal(r.code, 0, r.stderr);
  s = await until(app, 'scaled down', settled({ echo: 2, workProcesses: 1 }));
  assert.equal(pool(s, 'work').size, 2);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^# reload fixture: comments and layout must survive/);
  assert.match(text, / {4}size: 2\n {4}drainTimeout: 5s\n/);
  assert.match(text, /echo: {22}# inline, in every front worker\n/);
  assert.match(text, / {4}processes: 1\n {4}size: 2\n/);
  r = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no changes/);
  await noFailedRequest(load);
  const bad = await runCli(['scale', '--pid-file', app.pidFile, 'ecko=3']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /ACTORRT_E_CONFIG_UNKNOWN_REF {2}the running topology has no pool "ecko" \(did you mean "echo"\?\)/);
  const inline = await runCli(['scale', '--pid-file', app.pidFile, 'echo.processes=2']);
  assert.equal(inline.code, 1);
  assert.match(inline.stderr, /runs inside the front workers/);
  assert.equal(await app.stop(), 0);
});

test('invalid edits under load change nothing: each is reported with line:col (or restart needed) and the old topology keeps serving', { timeout: 120_000 }, async (t) => {
  const { file, app, load } = await startedUnderLoad(t);
  const cases: Array<[string, string, RegExp]> = [
    ['syntax error', topology().replace('routes:', 'routes: [\n'), /actorrt\.yml:\d+:\d+ {2}ACTORRT_E_CONFIG_SYNTAX/],
    ['unknown pool', topology({ route: 'nope' }), /actorrt\.yml:20:11 {2}ACTORRT_E_CONFIG_UNKNOWN_REF {2}.*"nope"/],
    ['negative size', topology({ echo: -1 }), /actorrt\.yml:11:11 {2}ACTORRT_E_CONFIG_VALUE/],
    ['port change', topology({ port: 9 }), /ACTORRT_E_RELOAD_REFUSED {2}http\.port: 0 -> 9 needs a restart/],
  ];
  for (const [what, text, expected] of cases) {
    save(file, text);
    const r = await runCli(['reload', '--pid-file', app.pidFile]);
    assert.equal(r.code, 1, `${what}: reload exits 1`);
    assert.match(r.stderr, expected, what);
    assert.match(r.stderr, /nothing was changed/, what);
    const s = await statusOf(app);
    assert.equal(s.lastReload?.ok, false, `${what}: status shows the refused reload`);
    assert.equal(shapeOf(s).echo, 4, `${what}: the old topology is still running`);
  }
  save(file, topology());
  assert.equal((await call(`${app.url}/echo/1`)).status, 200);
  await noFailedRequest(load);
  assert.equal(await app.stop(), 0);
});

test('http.workers 2 -> 3 -> 2 and an edited actor module roll processes under load: new code answers, no failed request', { timeout: 120_000 }, async (t) => {
  const { file, app, load } = await startedUnderLoad(t);
  save(file, topology({ workers: 3 }));
  await until(app, '3 workers', settled({ echo: 4, workProcesses: 1, workers: 3 }));
  const before = (await statusOf(app)).workers.map((w) => w.pid);
  const actor = join(file, '..', 'actors', 'echo.mjs');
  writeFileSync(actor, readFileSync(actor, 'utf8').replace('const VERSION = 1;', 'const VERSION = 2;'));
  const r = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /front workers: roll 3, new before old \(pool echo: actor module changed\)/);
  for (let i = 0; i < 20; i++) assert.equal(((await callFresh(app.url, '/echo/1')).json as { version: number }).version, 2, 'only the new code answers');
  const rolled = await until(app, 'rolled', settled({ echo: 4, workProcesses: 1, workers: 3 }));
  assert.ok(rolled.workers.every((w) => !before.includes(w.pid)), 'every front worker was replaced');
  save(file, topology({ workers: 2 }));
  await until(app, '2 workers', (s) => settled({ echo: 4, workProcesses: 1, workers: 2 })(s) && s.workers.length === 2);
  await noFailedRequest(load);
  assert.equal(await app.stop(), 0);
});

test('an edited helper module is new code: actorrt reload rolls the processes whose actors import it, under load, no failed request', { timeout: 120_000 }, async (t) => {
  const { file, app, started, load } = await startedUnderLoad(t);
  const helper = join(file, '..', 'actors', 'release.mjs');
  writeFileSync(helper, readFileSync(helper, 'utf8').replace('RELEASE = 1', 'RELEASE = 2'));
  const r = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pool work: roll 1 process, new before old \(actor module changed\)/);
  assert.match(r.stdout, /front workers: roll 2, new before old \(pool echo: actor module changed\)/);
  for (let i = 0; i < 10; i++) {
    assert.equal(((await callFresh(app.url, '/echo/1')).json as { release: number }).release, 2, 'inline pools run the new helper');
    assert.equal(((await callFresh(app.url, '/work')).json as { release: number }).release, 2, 'isolated pools run the new helper');
  }
  const rolled = await until(app, 'rolled', settled({ echo: 4, workProcesses: 1, workers: 2 }));
  assert.ok(pidsOf(rolled).every((pid) => !pidsOf(started).includes(pid)), 'every process was replaced');
  await noFailedRequest(load);
  assert.equal(await app.stop(), 0);
});

test('actorrt reload --roll replaces every process of an unchanged topology, one at a time, under load, no failed request', { timeout: 120_000 }, async (t) => {
  const { file, app, started, load } = await startedUnderLoad(t);
  const plain = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /no changes/);
  const dry = await runCli(['reload', '--roll', '--dry-run', '--pid-file', app.pidFile]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /pool work: roll 1 process, new before old \(roll requested\)/);
  assert.match(dry.stdout, /front workers: roll 2, new before old \(roll requested\)/);
  assert.deepEqual(pidsOf(await statusOf(app)).sort(), pidsOf(started).sort(), 'a dry run replaces nothing');
  const r = await runCli(['reload', '--roll', '--pid-file', app.pidFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^applied:/);
  const rolled = await until(app, 'rolled', settled({ echo: 4, workProcesses: 1, workers: 2 }));
  assert.ok(pidsOf(rolled).every((pid) => !pidsOf(started).includes(pid)), 'every process was replaced');
  await noFailedRequest(load);
  assert.equal(await app.stop(), 0);
});

test('kill -9 of every front worker at once: the port stays, and a request sent in the gap is answered, not refused', { timeout: 120_000 }, async (t) => {
  const file = project(t);
  const app = await startInstance(file, [], t);
  const s = await until(app, 'started', settled({ echo: 4, workProcesses: 1, workers: 2 }));
  for (const w of s.workers) process.kill(w.pid as number, 'SIGKILL');
  const answer = await callFresh(app.url, '/echo/gap');
  assert.equal(answer.status, 200, 'answered by a replacement on the same port');
  const after = await until(app, 'replaced', settled({ echo: 4, workProcesses: 1, workers: 2 }));
  assert.ok(after.workers.every((w) => !s.workers.some((old) => old.pid === w.pid)));
  assert.equal(after.url, s.url, 'the port did not change');
  assert.equal(await app.stop(), 0);
});

test('after 20 resizes no process, socket file or listener is left over', { timeout: 120_000 }, async (t) => {
  const file = project(t);
  const app = await startInstance(file, ['--no-watch'], t);
  await until(app, 'started', settled({ echo: 4, workProcesses: 1 }));
  const load = steadyLoad(app.url, LOAD_PATHS, 4, t);
  for (let i = 0; i < 20; i++) {
    const workProcesses = (i % 3) + 1;
    const r = await runCli(['scale', '--pid-file', app.pidFile, `echo=${(i % 4) + 1}`, `work.processes=${workProcesses}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  const last = await until(app, 'the last size', settled({ echo: 4, workProcesses: 2 }));
  await noFailedRequest(load);
  const primary = app.child.pid as number;
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(primary)], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '');
  assert.equal(children.length, 2 + 2, 'two front workers and two work processes');
  const entry = PidFile.readEntry(app.pidFile);
  const sockets = readdirSync(entry?.runtimeDir as string).filter((f) => f.endsWith('.sock'));
  assert.equal(sockets.length, 1 + 2 + 2, `admin + 2 front + 2 work sockets: ${sockets.join(', ')}`);
  assert.equal(listeningSockets(Number(new URL(last.url).port)), 1, 'one listening socket');
  assert.equal(await app.stop(), 0);
});

test('a reload starts again an isolated pool that supervision gave up on', { timeout: 120_000 }, async (t) => {
  const file = project(t);
  const dir = join(file, '..');
  writeFileSync(join(dir, 'fail'), '');
  save(file, topology().replace('routes:', `  flaky:
    actor: ./actors/flaky.mjs
    processes: 1
    supervision: { maxRestarts: 1, within: 30s, backoff: { min: 10ms, max: 50ms } }
routes:
  - match: { method: GET, path: /flaky }
    pool: flaky`));
  const app = await startInstance(file, [], t);
  await until(app, 'given up', (s) => pool(s, 'flaky').state === 'down');
  const down = await call(`${app.url}/flaky`);
  assert.equal(down.status, 503);
  rmSync(join(dir, 'fail'));
  const r = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pool flaky: started again after it was given up \(1 processes\)/);
  const s = await until(app, 'back up', (st) => pool(st, 'flaky').state === 'up');
  assert.equal(pool(s, 'flaky').down, undefined);
  assert.equal((await call(`${app.url}/flaky`)).status, 200);
  assert.equal(await app.stop(), 0);
});

test('a reload whose new pool cannot start is rolled back: exit 1 with the module error, the old topology keeps serving', { timeout: 120_000 }, async (t) => {
  const file = project(t);
  writeFileSync(join(file, '..', 'actors', 'broken.mjs'), "throw new Error('boom at import');\n");
  const app = await startInstance(file, ['--no-watch'], t);
  await until(app, 'started', settled({ echo: 4, workProcesses: 1 }));
  const load = steadyLoad(app.url, LOAD_PATHS, 4, t);
  for (const processes of ['', '\n    processes: 1']) {
    save(file, topology({ echo: 8 }).replace('routes:', `  bad:\n    actor: ./actors/broken.mjs${processes}\nroutes:\n  - match: { path: /bad }\n    pool: bad`));
    const r = await runCli(['reload', '--pid-file', app.pidFile]);
    assert.equal(r.code, 1, `${processes === '' ? 'inline' : 'isolated'}: reload exits 1`);
    assert.match(r.stderr, /ACTORRT_E_RELOAD_FAILED {2}.*broken\.mjs failed to load: boom at import; the previous topology keeps serving/);
    const s = await until(app, 'rolled back', settled({ echo: 4, workProcesses: 1 }));
    assert.equal(s.pools.some((p) => p.name === 'bad'), false, 'the running topology has no "bad" pool');
    assert.equal((await call(`${app.url}/bad`)).status, 404);
  }
  await noFailedRequest(load);
  assert.equal(await app.stop(), 0);
});
