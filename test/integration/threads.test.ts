import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { eventually, logsWith } from '../helpers.js';
import { call, errorOf, noFailedRequest, runCli, startInstance, statusOf, steadyLoad, until, type Answer, type Instance } from './instance.js';

const TOPOLOGY = 'test/fixtures/runtime/threads.yml';

interface Where { readonly pid: number; readonly thread: number; readonly count: number }

/** Requests to /thr/where until `n` distinct threads answered (or 200 tries). */
async function threadsAnswering(app: Instance, n: number): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < 200 && seen.size < n; i++) {
    const a = await call(`${app.url}/thr/where`);
    assert.equal(a.status, 200, a.text);
    seen.add((a.json as Where).thread);
  }
  return seen;
}

describe('thread pools (threads: N)', () => {
  let app: Instance;
  before(async () => { app = await startInstance(TOPOLOGY, ['--no-watch']); });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  const frontPid = async (): Promise<number> => ((await call(`${app.url}/echo/1`)).json as { pid: number }).pid;

  test('serves from worker threads inside the front worker, spreading requests over them', { timeout: 30_000 }, async () => {
    const pid = await frontPid();
    const threads = await threadsAnswering(app, 2);
    assert.deepEqual([...threads].sort(), [0, 1]);
    const a = await call(`${app.url}/thr/where`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":[1,"two"]}' });
    assert.equal((a.json as Where).pid, pid, 'the thread runs in the front worker process');
    assert.deepEqual((a.json as { body: unknown }).body, { x: [1, 'two'] });
    const bin = await request(`${app.url}/thr/binary`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 2, 255]) });
    assert.equal(bin.statusCode, 200);
    assert.equal(bin.headers['content-type'], 'application/octet-stream');
    assert.deepEqual([...Buffer.from(await bin.body.arrayBuffer())], [...Buffer.from('got:'), 0, 1, 2, 255], 'a binary body crosses both ways as bytes');
  });

  test('ctx.ask crosses thread, inline and process pools both ways', { timeout: 30_000 }, async () => {
    const fromThread = await call(`${app.url}/thr/ask?pool=echo`);
    assert.equal(fromThread.status, 200, fromThread.text);
    assert.equal((fromThread.json as { asked: { body: unknown } }).asked.body !== undefined, true);
    const threadToProcess = await call(`${app.url}/thr/ask?pool=cpu`);
    assert.equal(threadToProcess.status, 200, threadToProcess.text);
    assert.notEqual((threadToProcess.json as { asked: { pid: number } }).asked.pid, await frontPid(), 'the cpu pool answered from its own process');
    const inlineToThread = await call(`${app.url}/ask/1?pool=thr`);
    assert.equal(inlineToThread.status, 200, inlineToThread.text);
    assert.equal((inlineToThread.json as { asked: { method: string } }).asked.method, 'ASK');
    const processToThread = await call(`${app.url}/iso-ask/1?pool=thr`);
    assert.equal(processToThread.status, 200, processToThread.text);
    assert.equal((processToThread.json as { asked: { method: string } }).asked.method, 'ASK');
    // As from an inline actor: the ask rejects with ACTORRT_E_UNKNOWN_POOL, and an actor that lets it through fails its request.
    const unknown = await call(`${app.url}/thr/ask?pool=no-such-pool`);
    assert.equal(errorOf(unknown).code, 'ACTORRT_E_ACTOR_FAILED');
    await eventually('the thread logged the ask\'s error', () => logsWith(app.stderr(), { role: 'thread', pool: 'thr', reason: /ctx\.ask\("no-such-pool"\): no such pool/ }).length === 1);
  });

  test('an actor\'s init() in a thread can ask other pools and use ctx.caches before the thread is ready', { timeout: 30_000 }, async () => {
    assert.deepEqual((await call(`${app.url}/warm`)).json, { asked: 'ASK', cached: { at: 'init' } });
  });

  test('ctx.caches in a thread is the process\'s cache: an inline actor reads what the thread stored, and a delete reaches it', { timeout: 30_000 }, async () => {
    assert.equal((await call(`${app.url}/thr/cache-set?n=7`)).status, 200);
    assert.deepEqual((await call(`${app.url}/reader`)).json, { value: { by: 'thread', n: 7 }, pid: await frontPid() });
    assert.equal((await call(`${app.url}/reader`, { method: 'DELETE' })).status, 200);
    assert.deepEqual((await call(`${app.url}/thr/cache-get`)).json, { value: null });
  });

  test('an actor that throws fails its request with 500 and is restarted inside its thread', { timeout: 30_000 }, async () => {
    const restarts = (): number => logsWith(app.stderr(), { role: 'thread', pool: 'thr', action: 'restart-one', reason: 'thread actor crashed on purpose' }).length;
    const crashed = await call(`${app.url}/thr/crash`);
    assert.equal(crashed.status, 500);
    assert.equal(errorOf(crashed).code, 'ACTORRT_E_ACTOR_FAILED');
    await eventually('the restart is logged by the thread', () => restarts() === 1);
    assert.equal((await call(`${app.url}/thr/where`)).status, 200);
  });

  test('a busy-looping actor\'s thread is terminated within the watchdog bound and replaced; the process and the other pools serve on', { timeout: 30_000 }, async () => {
    const pid = await frontPid();
    const looping = call(`${app.url}/thr/loop`);
    // While the thread loops, the front worker's own event loop is free.
    let during: Answer | undefined;
    await eventually('an inline route answers while the thread loops', async () => {
      during = await call(`${app.url}/echo/2`);
      return during.status === 200;
    });
    const lost = await looping;
    assert.equal(lost.status, 503);
    assert.equal(errorOf(lost).code, 'ACTORRT_E_THREAD_LOST');
    assert.match(errorOf(lost).message, /event loop did not answer for \d+ ms \(watchdog 1000 ms\)/);
    assert.equal(await frontPid(), pid, 'no process was restarted');
    assert.equal((await threadsAnswering(app, 2)).size, 2, 'a new thread took the looping one\'s place');
    assert.equal(logsWith(app.stderr(), { event: 'restarting' }).length, 0, 'the primary restarted no process');
  });

  test('an actor past its heap cap fails its own request with 503; its thread is replaced and everything else serves on', { timeout: 30_000 }, async (t) => {
    const pid = await frontPid();
    const load = steadyLoad(app.url, ['/echo/1', '/cpu?ms=1', '/fragile/where'], 3, t);
    const oom = await call(`${app.url}/thr/heap`);
    // The inline pool, the process pool and the other thread pool went on: only the heap-eater's request failed.
    assert.ok(await noFailedRequest(load) > 0);
    assert.equal(oom.status, 503);
    assert.equal(errorOf(oom).code, 'ACTORRT_E_THREAD_LOST');
    assert.match(errorOf(oom).message, /ran out of its 32 MiB heap \(maxHeap\)/);
    assert.equal(await frontPid(), pid, 'the process survived its thread running out of memory');
    assert.equal((await threadsAnswering(app, 2)).size, 2);
  });

  test('actorrt status shows thread pools; scale grows and shrinks the threads under load without a failed request', { timeout: 60_000 }, async (t) => {
    const text = await runCli(['status', '--pid-file', app.pidFile]);
    assert.match(text.stdout, /\n {2}thr {14}up {7}threads, 2 threads x 1 actors per worker/);
    const load = steadyLoad(app.url, ['/thr/where', '/echo/1'], 4, t);
    const grown = await runCli(['scale', 'thr.threads=3', '--pid-file', app.pidFile]);
    assert.equal(grown.code, 0, grown.stderr);
    assert.equal((await threadsAnswering(app, 3)).size, 3);
    const shrunk = await runCli(['scale', 'thr.threads=1', '--pid-file', app.pidFile]);
    assert.equal(shrunk.code, 0, shrunk.stderr);
    await until(app, 'one thread of thr running', (s) => s.pools.find((p) => p.name === 'thr')?.actorsRunning === 1);
    assert.ok(await noFailedRequest(load) > 0);
    const refusedScale = await runCli(['scale', 'echo.threads=2', '--pid-file', app.pidFile]);
    assert.notEqual(refusedScale.code, 0);
    assert.match(refusedScale.stderr, /ACTORRT_E_CONFIG_VALUE {2}pool "echo" does not run in threads/);
  });
  test('a thread that exits is replaced; past the restart intensity the failure escalates to the front worker, which the primary restarts with fresh threads', { timeout: 60_000 }, async () => {
    const pid = await frontPid();
    const first = await call(`${app.url}/fragile/exit`);
    assert.equal(errorOf(first).code, 'ACTORRT_E_THREAD_LOST');
    assert.match(errorOf(first).message, /exited with code 3/);
    await eventually('the fragile pool serves again', async () => (await call(`${app.url}/fragile/where`)).status === 200);
    assert.equal(errorOf(await call(`${app.url}/fragile/exit`)).code, 'ACTORRT_E_THREAD_LOST');
    let answer: Answer | undefined;
    await eventually('a restarted front worker serves the fragile pool', async () => {
      answer = await call(`${app.url}/fragile/where`);
      return answer.status === 200 && (answer.json as Where).pid !== pid;
    }, 30_000, () => `${answer?.status ?? '-'} ${answer?.text ?? ''}`);
    assert.equal(logsWith(app.stderr(), { event: 'escalated', pool: 'fragile', reason: /its threads failed: more than 1 restarts within 60000 ms/ }).length, 1);
    assert.equal((await call(`${app.url}/thr/where`)).status, 200);
    const fragile = (await statusOf(app)).pools.find((p) => p.name === 'fragile');
    assert.equal(fragile?.state, 'up');
    assert.equal(fragile?.supervision['process-restart'], 1);
    assert.equal(fragile?.supervision['escalation'], 1);
  });
});
