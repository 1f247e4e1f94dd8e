import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventually, logsWith, ROOT, tempDir, within } from '../helpers.js';
import { call, callFresh, errorOf, runCli, startInstance, statusOf, until, type Answer, type Instance, hold, refused } from './instance.js';

/**
 * http.shutdownDelay: a stop first leaves the load balancers (readiness 503, still serving, new
 * connections included), then drains: no new connection, every reply `Connection: close`, idle
 * keep-alive connections never closed under a request on its way.
 */

const ACTOR = join(ROOT, 'test/fixtures/runtime/actors/slow.mjs');

/** A topology of its own (a temp folder) with `http` added to the http block: /slow?ms=N and /gate?gate=<file> (held until the file exists). */
function topology(http: string): string {
  const file = join(tempDir('leave'), 'actorrt.yml');
  writeFileSync(file, `version: 1
http: { port: 0, host: 127.0.0.1, ${http} }
admin: { metrics: 127.0.0.1:0 }
pools:
  slow: { actor: ${JSON.stringify(ACTOR)}, size: 4, mailbox: { capacity: 16 } }
routes:
  - match: { method: GET, path: /slow }
    pool: slow
  - match: { method: GET, path: /gate }
    pool: slow
    timeout: 60s
`);
  return file;
}

/** One HTTP/1.1 connection driven by hand, so a test knows which requests shared it and when the server closed it. */
class Connection {
  private data = '';
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { this.data += chunk; });
    socket.on('close', () => { this.closed = true; });
    socket.on('error', () => undefined);
  }

  static async open(url: string, t: { after(fn: () => unknown): void }): Promise<Connection> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Connection(socket);
  }

  /** GET `path` on this connection and read the whole response (Content-Length framed, as actorrt sends them). */
  async get(path: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    assert.ok(!this.closed, `the connection is still open to send GET ${path}`);
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
    let parsed: { status: number; headers: Record<string, string>; body: string; length: number } | undefined;
    await eventually(`the response to GET ${path} on one connection`, () => {
      parsed = parse(this.data);
      return parsed !== undefined || this.closed;
    }, 10_000, () => JSON.stringify(this.data));
    assert.ok(parsed !== undefined, `a whole response to GET ${path} came before the connection closed; got ${JSON.stringify(this.data)}`);
    this.data = this.data.slice(parsed.length);
    return parsed;
  }
}

function parse(data: string): { status: number; headers: Record<string, string>; body: string; length: number } | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine = '', ...lines] = data.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const size = Number(headers['content-length'] ?? 0);
  if (data.length < end + 4 + size) return undefined; // the bodies here are ASCII JSON: characters are bytes
  return { status: Number(statusLine.split(' ')[1]), headers, body: data.slice(end + 4, end + 4 + size), length: end + 4 + size };
}

const readyz = (app: Instance): Promise<Answer> => callFresh(app.url, '/readyz');

test('a stop leaves the load balancers for http.shutdownDelay (readiness 503, kept and new connections served), then drains (Connection: close) and exits 0',
  { timeout: 120_000 }, async (t) => {
    // A keep-alive timeout longer than the delay: the kept connection is still open when the drain begins.
    const app = await startInstance(topology('workers: 2, shutdownDelay: 4s, shutdownTimeout: 20s, limits: { keepAliveTimeout: 30s }'), [], t);
    const kept = await Connection.open(app.url, t);
    const first = await kept.get('/slow?ms=1');
    assert.equal(first.status, 200);
    assert.notEqual(first.headers['connection'], 'close', 'before the stop, connections are kept alive');

    const code = app.stop('SIGTERM');
    await eventually('readiness answers 503 once the stop began', async () => (await readyz(app)).status === 503, 10_000, undefined, 20);
    const ready = await readyz(app);
    assert.equal(ready.status, 503);
    assert.equal(errorOf(ready).code, 'ACTORRT_E_NOT_READY');
    assert.match(errorOf(ready).message, /shutting down/);
    const live = await callFresh(app.url, '/healthz');
    assert.equal(live.status, 200, 'liveness stays 200: a failing one would have the pod restarted');

    // The idle keep-alive connection made before the stop is served and kept: a balancer that never
    // looks at readiness (nginx) keeps reusing its connections instead of opening one per request.
    const second = await kept.get('/slow?ms=1');
    assert.equal(second.status, 200);
    assert.notEqual(second.headers['connection'], 'close');

    // A brand-new connection is still accepted and served: the listening socket stays open during the delay.
    const fresh = await callFresh(app.url, '/slow?ms=1');
    assert.equal(fresh.status, 200);

    const leaving = await statusOf(app);
    assert.equal(leaving.stopping?.phase, 'leaving', 'status shows the instance leaving');
    assert.ok(leaving.stopping.left > 0 && leaving.stopping.left <= 4000, `time left before the drain: ${leaving.stopping.left} ms`);
    assert.ok(leaving.workers.length === 2 && leaving.workers.every((w) => w.state === 'up'), 'every front worker still serves');
    const lines = logsWith(app.stderr(), { event: 'leave' });
    assert.equal(lines.length, 1, 'one leave line for the instance');
    assert.equal(lines[0]?.['msg'], 'leaving: readiness 503, serving for 4s before draining');

    // A slow request that starts during the delay is still answered once the drain has begun.
    const inflight = await hold(app);
    await eventually('new connections are refused once the delay is over', () => refused(app.url), 30_000, undefined, 50);
    assert.equal((await statusOf(app)).stopping?.phase, 'draining');
    assert.equal(inflight.settled(), false, 'the held request is still in flight');
    inflight.release();
    const held = await inflight.answer;
    assert.equal(held.status, 200);
    assert.deepEqual(held.json, { released: true });
    assert.equal(held.headers['connection'], 'close');
    // The kept connection, idle when the drain began, was not closed under its client: its next
    // request is answered with Connection: close, then the server closes it.
    assert.equal(kept.closed, false, 'an idle keep-alive connection is not closed when the drain begins');
    const last = await kept.get('/slow?ms=1');
    assert.equal(last.status, 200);
    assert.equal(last.headers['connection'], 'close');
    await eventually('the server closes the kept connection after that reply', () => kept.closed, 10_000);
    assert.equal(await code, 0);
  });

test('actorrt stop honours http.shutdownDelay and waits for the drain', { timeout: 120_000 }, async (t) => {
  const app = await startInstance(topology('workers: 1, shutdownDelay: 3s, shutdownTimeout: 10s'), [], t);
  const stopping = runCli(['stop', '--pid-file', app.pidFile], 60_000);
  await eventually('readiness answers 503 once actorrt stop began', async () => (await readyz(app)).status === 503, 10_000, undefined, 20);
  const served = await callFresh(app.url, '/slow?ms=1');
  assert.equal(served.status, 200, 'a new connection is still served while the instance leaves');
  const r = await stopping;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^leaving its load balancers for 3\.0s, then draining \(pid \d+\)\nstopped \(pid \d+\)\n$/);
  assert.equal(await app.exited, 0);
  assert.equal(logsWith(app.stderr(), { event: 'leave' }).length, 1);
});

test('during the delay a front worker that dies is not restarted, reloads are refused, and a second signal forces the exit', { timeout: 120_000 }, async (t) => {
  const app = await startInstance(topology('workers: 2, shutdownDelay: 60s'), [], t);
  const pids = (await until(app, 'both workers are up', (s) => s.workers.filter((w) => w.up).length === 2)).workers.map((w) => w.pid);
  const [victim, survivor] = pids;
  assert.ok(victim !== undefined && survivor !== undefined);
  app.child.kill('SIGTERM');
  await until(app, 'the instance is leaving', (s) => s.stopping?.phase === 'leaving');
  process.kill(victim, 'SIGKILL');
  const after = await until(app, 'the killed worker is gone', (s) => s.workers.length === 1);
  assert.equal(after.workers[0]?.pid, survivor, 'the survivor serves on');
  assert.equal(after.workerRestarts, 0, 'no restart was scheduled');
  assert.equal((await readyz(app)).status, 503, 'nothing reports ready again');
  assert.equal((await callFresh(app.url, '/slow?ms=1')).status, 200);

  const reload = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(reload.code, 1);
  assert.match(reload.stderr, /ACTORRT_E_RELOAD_REFUSED.*stopping/);

  app.child.kill('SIGTERM');
  assert.equal(await within('the exit after a second signal', app.exited, 30_000), 130);
});

test('when the last front worker dies during the delay, the drain begins at once: new connections are refused, not left in the backlog to be reset', { timeout: 120_000 }, async (t) => {
  const app = await startInstance(topology('workers: 1, shutdownDelay: 60s'), [], t);
  const [pid] = (await until(app, 'the worker is up', (s) => s.workers.filter((w) => w.up).length === 1)).workers.map((w) => w.pid);
  assert.ok(pid !== undefined);
  app.child.kill('SIGTERM');
  await until(app, 'the instance is leaving', (s) => s.stopping?.phase === 'leaving');
  process.kill(pid, 'SIGKILL');
  // Well inside the 60 s delay: nothing is left to serve, so the listening socket is closed now.
  await eventually('new connections are refused', () => refused(app.url), 30_000, undefined, 50);
  assert.equal(await within('the exit once the last worker is gone', app.exited, 30_000), 0);
  const cut = logsWith(app.stderr(), { event: 'leave-cut-short' });
  assert.equal(cut.length, 1, 'the early drain is logged once');
  assert.match(String(cut[0]?.['msg']), /no front worker left to serve/);
});

test('shutdownDelay auto: 5 s inside a Kubernetes pod (KUBERNETES_SERVICE_HOST set)', { timeout: 120_000 }, async (t) => {
  const app = await startInstance(topology('workers: 1'), [], t, { KUBERNETES_SERVICE_HOST: '10.96.0.1' });
  app.child.kill('SIGTERM');
  const s = await until(app, 'the instance is leaving', (x) => x.stopping?.phase === 'leaving');
  assert.ok(s.stopping?.phase === 'leaving' && s.stopping.left <= 5000);
  await eventually('the leave line', () => logsWith(app.stderr(), { event: 'leave' }).length === 1, 10_000);
  assert.equal(logsWith(app.stderr(), { event: 'leave' })[0]?.['msg'], 'leaving: readiness 503, serving for 5s before draining');
  app.child.kill('SIGTERM');
  assert.equal(await within('the exit after a second signal', app.exited, 30_000), 130);
});

test('shutdownDelay auto outside Kubernetes stops at once, as before: no leave, no delay', { timeout: 120_000 }, async (t) => {
  const app = await startInstance(topology('workers: 1'), [], t);
  const answer = await call(`${app.url}/slow?ms=1`);
  assert.equal(answer.status, 200);
  assert.equal(await app.stop('SIGTERM'), 0);
  assert.equal(logsWith(app.stderr(), { event: 'leave' }).length, 0);
});
