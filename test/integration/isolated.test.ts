import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { eventually, logsWith } from '../helpers.js';
import { call, errorOf, runCli, startInstance, statusOf, until, type Answer, type Instance } from './instance.js';

const TOPOLOGY = 'test/fixtures/runtime/isolated.yml';

/** Pids of the pool processes (children of the primary running pool-process/main.js). */
function poolProcessPids(primary: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(primary)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('pool-process/main.js')).map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('isolated pool processes', () => {
  let app: Instance;
  before(async () => { app = await startInstance(TOPOLOGY); });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  /** How many times the primary logged restarting a process of `pool`. */
  const restartsOf = (pool: string): number => logsWith(app.stderr(), { event: 'restarting', pool }).length;

  test('serves an isolated pool from its own processes, spreading requests over them', { timeout: 30_000 }, async () => {
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const a = await call(`${app.url}/cpu?ms=1`);
      assert.equal(a.status, 200);
      pids.add((a.json as { pid: number }).pid);
    }
    assert.equal(pids.size, 2, 'both processes of the pool answered');
    const workerPid = ((await call(`${app.url}/echo/1`)).json as { pid: number }).pid;
    assert.ok(!pids.has(workerPid), 'not a front worker');
    assert.deepEqual(new Set(poolProcessPids(app.child.pid as number).filter((p) => pids.has(p))), pids);
  });

  test('a pool that crashes in init every time is given up after bounded restarts; the rest keeps serving', { timeout: 60_000 }, async () => {
    await until(app, 'the broken pool given up', (s) => s.pools.find((p) => p.name === 'broken')?.state === 'down');
    const answer = await call(`${app.url}/broken`);
    assert.equal(answer.status, 503);
    assert.equal(errorOf(answer).code, 'ACTORRT_E_POOL_DOWN');
    assert.match(errorOf(answer).message, /more than 2 restarts.*last error: ACTORRT_E_ACTOR_INIT.*cannot reach the database/);
    assert.equal(restartsOf('broken'), 2, 'exactly maxRestarts restarts, then given up');
    assert.equal(poolProcessPids(app.child.pid as number).length, 4, 'only the cpu, crashy-iso and iso-asker processes remain');
    assert.equal((await call(`${app.url}/echo/1`)).status, 200);
    assert.equal((await call(`${app.url}/cpu?ms=1`)).status, 200);
    // A given-up pool stays down: nothing restarted it meanwhile.
    assert.equal((await statusOf(app)).pools.find((p) => p.name === 'broken')?.state, 'down');
    assert.equal(restartsOf('broken'), 2, 'no further restarts');
  });

  test('an isolated actor past its restart intensity escalates to its process, which the primary restarts', { timeout: 60_000 }, async () => {
    const poison = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: '{"poison":true}' };
    assert.equal((await call(`${app.url}/crashy-iso`)).status, 200);
    assert.equal(errorOf(await call(`${app.url}/crashy-iso`, poison)).code, 'ACTORRT_E_ACTOR_FAILED'); // actor restarted
    assert.deepEqual((await call(`${app.url}/crashy-iso`)).json, { count: 1 }, 'state reset by the actor restart');
    assert.equal(errorOf(await call(`${app.url}/crashy-iso`, poison)).code, 'ACTORRT_E_ACTOR_FAILED'); // escalates
    let back: Answer | undefined;
    await eventually('the pool serves again from a restarted process', async () => {
      back = await call(`${app.url}/crashy-iso`);
      return back.status === 200;
    }, 10_000, () => `last answer ${back?.status ?? '-'} ${back?.text ?? ''}`);
    // The process exited with EXIT_ESCALATE (70) and was restarted; its actor's crash was logged as an escalation.
    assert.equal(logsWith(app.stderr(), { event: 'restarting', pool: 'crashy-iso', code: 70 }).length, 1);
    assert.equal(logsWith(app.stderr(), { pool: 'crashy-iso', action: 'escalate' }).length, 1);
  });

  test('actorrt status shows the pools, their processes, and the given-up pool as down with its last error', { timeout: 30_000 }, async () => {
    const text = await runCli(['status', '--pid-file', app.pidFile]);
    assert.equal(text.code, 1, 'non-zero while a pool is down');
    assert.match(text.stdout, /^actorrt pid \d+ on http:\/\/127\.0\.0\.1:\d+, up \d+s\n/);
    assert.match(text.stdout, /front workers: 2\/2 up/);
    assert.match(text.stdout, /\n {2}echo {13}up {7}inline, 4 actors per worker\n/);
    assert.match(text.stdout, /\n {2}cpu {14}up {7}isolated, 2 processes x 1 actors/);
    assert.match(text.stdout, /\n {2}broken {11}down {5}isolated, 1 processes x 1 actors \(pids -\), 2 restarts\n {6}down: more than 2 restarts within 30000 ms \(last error: ACTORRT_E_ACTOR_INIT/);
    const json = await runCli(['status', '--pid-file', app.pidFile, '--json']);
    const status = JSON.parse(json.stdout) as { pools: Array<{ name: string; state: string; lastError?: string; supervision: Record<string, number> }> };
    assert.equal(status.pools.find((p) => p.name === 'broken')?.state, 'down');
    assert.match(status.pools.find((p) => p.name === 'broken')?.lastError ?? '', /cannot reach the database/);
    // Supervision totals at every level, counted by the primary from what each process reports.
    assert.deepEqual(status.pools.find((p) => p.name === 'broken')?.supervision,
      { 'actor-restart': 0, 'actor-stop': 0, escalation: 0, 'process-restart': 2, 'give-up': 1 });
    assert.deepEqual(status.pools.find((p) => p.name === 'crashy-iso')?.supervision,
      { 'actor-restart': 1, 'actor-stop': 0, escalation: 1, 'process-restart': 1, 'give-up': 0 });
    assert.deepEqual(status.pools.find((p) => p.name === 'echo')?.supervision,
      { 'actor-restart': 0, 'actor-stop': 0, escalation: 0, 'process-restart': 0, 'give-up': 0 });
    assert.match(text.stdout, /\n {2}crashy-iso {7}up[^\n]*\n {6}supervision: 1 actor-restart, 1 escalation, 1 process-restart\n/);
  });

  test('a reply that cannot cross the channel fails only its own request; the process keeps serving', { timeout: 30_000 }, async () => {
    const pidsOf = async (): Promise<Set<number>> => {
      const pids = new Set<number>();
      for (let i = 0; i < 8; i++) pids.add(((await call(`${app.url}/cpu?ms=0`)).json as { pid: number }).pid);
      return pids;
    };
    const before = await pidsOf();
    const [huge, bigint, fine] = await Promise.all([
      call(`${app.url}/cpu?ms=0&reply=huge`), call(`${app.url}/cpu?ms=0&reply=bigint`), call(`${app.url}/cpu?ms=50`),
    ]);
    assert.equal(huge.status, 500);
    assert.equal(errorOf(huge).code, 'ACTORRT_E_REPLY_TOO_LARGE');
    assert.match(errorOf(huge).message, /replied with \d+ bytes; replies from isolated pools are limited to 67108864 bytes/);
    assert.equal(bigint.status, 500);
    assert.equal(errorOf(bigint).code, 'ACTORRT_E_BAD_REPLY');
    assert.equal(fine.status, 200, 'a request in flight beside them is answered');
    assert.deepEqual(await pidsOf(), before, 'no pool process was restarted');
  });

  test('kill -9 of a pool process under load: only its in-flight requests fail (502), other routes are unaffected, the pool serves again', { timeout: 60_000 }, async (t) => {
    const cpuPids = new Set<number>();
    for (let i = 0; i < 10; i++) cpuPids.add(((await call(`${app.url}/cpu?ms=1`)).json as { pid: number }).pid);
    const [victim] = [...cpuPids];
    assert.ok(victim !== undefined);
    let stop = false;
    const statuses: Record<string, number> = {};
    const otherFailures: Answer[] = [];
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const a = await call(`${app.url}/cpu?ms=20`);
        const key = a.status === 200 ? '200' : `${a.status} ${errorOf(a).code}`;
        statuses[key] = (statuses[key] ?? 0) + 1;
      }
    });
    const other = (async () => {
      while (!stop) {
        const a = await call(`${app.url}/echo/1`);
        if (a.status !== 200) otherFailures.push(a);
      }
    })();
    const stopLoad = (): Promise<unknown> => { stop = true; return Promise.allSettled([...load, other]); };
    t.after(stopLoad);
    const served = (): number => statuses['200'] ?? 0;
    await eventually('the load is being served', () => served() >= 16, 20_000);
    process.kill(victim, 'SIGKILL');
    // The pool serves from both processes again: a new pid appears.
    await eventually('a replacement process started', () => {
      const now = poolProcessPids(app.child.pid as number);
      return !now.includes(victim) && now.length >= 4;
    }, 10_000, () => poolProcessPids(app.child.pid as number).join(', '));
    const before = served();
    await eventually('the pool serves on after the replacement', () => served() >= before + 16, 20_000);
    await stopLoad();
    await Promise.all([...load, other]); // a loop that threw fails the test here
    assert.equal(otherFailures.length, 0, 'the inline route never failed');
    const failures = Object.entries(statuses).filter(([k]) => k !== '200');
    for (const [key] of failures) assert.match(key, /^(502 ACTORRT_E_ACTOR_CRASHED|503 ACTORRT_E_POOL_DOWN)$/, `unexpected failure ${key}`);
    const failed = failures.reduce((n, [, c]) => n + c, 0);
    assert.ok(failed <= 8, `at most the requests in flight on the killed process failed (got ${failed})`);
    assert.ok(served() > 20, 'the pool kept serving on the other process');
    const after = await call(`${app.url}/cpu?ms=1`);
    assert.equal(after.status, 200);
  });

  test('with the CPU pool saturated, an inline route still answers', { timeout: 60_000 }, async (t) => {
    let stop = false;
    let cpuInflight = 0;
    let cpuDone = 0;
    const burners = Array.from({ length: 6 }, async () => {
      while (!stop) {
        cpuInflight++;
        await call(`${app.url}/cpu?ms=50`);
        cpuInflight--;
        cpuDone++;
      }
    });
    const stopBurners = (): Promise<unknown> => { stop = true; return Promise.allSettled(burners); };
    t.after(stopBurners);
    await eventually('the CPU pool is busy with the burners', () => cpuDone >= 6, 20_000);
    const inflightSeen: number[] = [];
    for (let i = 0; i < 20; i++) {
      assert.equal((await call(`${app.url}/echo/1`)).status, 200);
      inflightSeen.push(cpuInflight);
    }
    await stopBurners();
    await Promise.all(burners);
    // How much faster it answers than it would inline is measured by `npm run bench` (isolation).
    assert.ok(inflightSeen.every((n) => n > 0), `CPU requests were in flight at every inline answer: ${inflightSeen.join(',')}`);
  });

  test('ctx.ask from an inline actor reaches an isolated pool in another process', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/ask/7?pool=cpu`);
    assert.equal(a.status, 200);
    const body = a.json as { asked: { pid: number }; askerPid: number };
    assert.notEqual(body.asked.pid, body.askerPid);
    assert.ok(poolProcessPids(app.child.pid as number).includes(body.asked.pid));
  });

  test('ctx.ask from an isolated pool process reaches an inline pool in the front workers', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/iso-ask/8?pool=echo`);
    assert.equal(a.status, 200);
    const body = a.json as { asked: { method: string; body: unknown; pid: number }; askerPid: number };
    assert.equal(body.asked.method, 'ASK');
    assert.deepEqual(body.asked.body, { from: 'asker', id: '8' });
    assert.ok(poolProcessPids(app.child.pid as number).includes(body.askerPid), 'the asker runs in a pool process');
    assert.ok(!poolProcessPids(app.child.pid as number).includes(body.asked.pid), 'the answer came from a front worker');
  });

  test('ctx.ask from an isolated pool process reaches another isolated pool', { timeout: 30_000 }, async () => {
    const a = await call(`${app.url}/iso-ask/9?pool=cpu`);
    assert.equal(a.status, 200);
    const body = a.json as { asked: { pid: number }; askerPid: number };
    assert.notEqual(body.asked.pid, body.askerPid);
    assert.ok(poolProcessPids(app.child.pid as number).includes(body.asked.pid));
  });

  test('the channel sockets live in a private (0700) per-instance folder', () => {
    const dir = runtimeDirOf(app);
    assert.equal(execFileSync('stat', ['-c', '%a', dir], { encoding: 'utf8' }).trim(), '700');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('cpu.')).sort(), ['cpu.0.sock', 'cpu.1.sock']);
  });
});

function runtimeDirOf(app: Instance): string {
  const m = /"runtimeDir":"([^"]+)"/.exec(app.stderr());
  assert.ok(m, 'the ready log line names the runtime folder');
  return m[1] as string;
}

test('stopping the instance removes its runtime folder', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, ['--workers', '1'], t);
  const dir = runtimeDirOf(app);
  assert.ok(existsSync(dir));
  assert.equal(await app.stop(), 0);
  assert.ok(!existsSync(dir));
});
