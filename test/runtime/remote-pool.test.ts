import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { serveEndpoint, type Endpoint } from '../../runtime/channel/endpoint.js';
import { ActorrtError } from '../../runtime/errors.js';
import type { Pool } from '../../runtime/pool/pool.js';
import { RemotePool } from '../../runtime/pool/remote-pool.js';
import { eventually, tempDir, rejectionCode } from '../helpers.js';
import { childTrace } from '../../runtime/trace/trace-context.js';

const silent = pino({ level: 'silent' });

function poolConfig(over: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name: 'p', actor: '/dev/null', size: 1, resources: [], mailbox: { capacity: 100, overflow: 'reject' }, timeout: 5000, drainTimeout: 5000,
    supervision: { strategy: 'one-for-one', maxRestarts: 3, within: 5000, backoff: { min: 10, max: 50 } },
    ...over,
  };
}

let ids = 0;
function req(body?: unknown): ActorRequest {
  return { method: 'POST', path: '/', params: {}, query: {}, headers: {}, body, requestId: `r${++ids}`, ip: '127.0.0.1', protocol: 'http', trace: childTrace(undefined) };
}

/**
 * A pool process stand-in: a real endpoint on a Unix socket serving pool "p", whose actor answers
 * `{ from }` at once, or holds a request sent with `{ hold: true }` until release().
 */
class FakeProcess {
  readonly held: Array<() => void> = [];
  private endpoint: Endpoint | undefined;
  /** Set by the test's teardown: a test body still running after a failure may not listen again (its socket would keep the test process alive). */
  private disposed = false;

  constructor(readonly from: string, readonly path: string) {}

  private readonly pool: Pool = {
    name: 'p',
    config: poolConfig(),
    available: true,
    dispatch: (r: ActorRequest) => {
      const reply = { status: 200, body: { from: this.from } };
      if ((r.body as { hold?: boolean } | undefined)?.hold !== true) return Promise.resolve(reply);
      return new Promise((resolve) => this.held.push(() => resolve(reply)));
    },
    stop: async () => {},
  };

  async listen(): Promise<void> {
    if (this.disposed) throw new Error(`process ${this.from} was torn down with its test`);
    this.endpoint = await serveEndpoint(this.path, (name) => (name === 'p' ? this.pool : undefined), silent);
  }

  /** Answer every held request. */
  release(): void {
    for (const answer of this.held.splice(0)) answer();
  }

  /** Resolves once every peer has closed its connection (what a retiring process waits for). */
  async peersGone(): Promise<void> {
    await this.endpoint?.peersGone(60_000);
  }

  async close(): Promise<void> {
    this.release();
    await this.endpoint?.close(1000);
    this.endpoint = undefined;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.close();
  }
}

/** Processes listening in a fresh temp folder; everything the test started is stopped after it, pass or fail. */
async function processes(t: TestContext, ...names: string[]): Promise<FakeProcess[]> {
  const dir = tempDir('remote-pool');
  const started = names.map((name) => new FakeProcess(name, join(dir, `${name}.sock`)));
  t.after(async () => { for (const p of started) await p.dispose(); });
  for (const p of started) await p.listen();
  return started;
}

function remotePool(t: TestContext, config: PoolConfig, paths: readonly string[]): RemotePool {
  const pool = new RemotePool(config, paths, silent);
  t.after(() => pool.stop(1000));
  return pool;
}

async function fromOf(p: Promise<unknown>): Promise<string> {
  return ((await p) as { body: { from: string } }).body.from;
}

/** Dispatch until `from` answers (a channel connects asynchronously; until then the pool answers POOL_DOWN or another process replies). */
async function untilServedBy(pool: RemotePool, from: string): Promise<void> {
  await eventually(`process ${from} answers`, async () => {
    try {
      return await fromOf(pool.dispatch(req(), 5000)) === from;
    } catch (err) {
      if (err instanceof ActorrtError && err.code === 'ACTORRT_E_POOL_DOWN') return false;
      throw err;
    }
  });
}

test('sends a request to its process over the channel and resolves with the reply; depth counts what is in flight', async (t) => {
  const [a] = await processes(t, 'a') as [FakeProcess];
  const pool = remotePool(t, poolConfig(), [a.path]);
  await untilServedBy(pool, 'a');
  assert.equal(pool.depth, 0);
  const held = pool.dispatch(req({ hold: true }), 5000);
  assert.equal(pool.depth, 1);
  await eventually('the request reached the process', () => a.held.length === 1);
  a.release();
  assert.equal(await fromOf(held), 'a');
  assert.equal(pool.depth, 0);
});

test('sends each request to the process with the fewest in flight', async (t) => {
  const [a, b] = await processes(t, 'a', 'b') as [FakeProcess, FakeProcess];
  const pool = remotePool(t, poolConfig(), [a.path, b.path]);
  await untilServedBy(pool, 'a');
  await untilServedBy(pool, 'b');
  const first = [pool.dispatch(req({ hold: true }), 5000), pool.dispatch(req({ hold: true }), 5000)];
  await eventually('one held request on each process', () => a.held.length === 1 && b.held.length === 1);
  b.release();
  await eventually('b answered', () => pool.depth === 1);
  // a holds one, b none: b takes the next request, three times over, wherever the rotation stands.
  for (let i = 0; i < 3; i++) {
    const next = pool.dispatch(req({ hold: true }), 5000);
    await eventually('the request reached a process', () => a.held.length + b.held.length === 2);
    assert.equal(b.held.length, 1, 'b, the idle one, took it');
    b.release();
    assert.equal(await fromOf(next), 'b');
  }
  a.release();
  await Promise.all(first);
});

test('answers MAILBOX_FULL once the least-loaded process holds its window (size x capacity); a reconfigured window applies at once', async (t) => {
  const [a] = await processes(t, 'a') as [FakeProcess];
  const pool = remotePool(t, poolConfig({ size: 1, mailbox: { capacity: 2, overflow: 'reject' } }), [a.path]);
  await untilServedBy(pool, 'a');
  const held = [pool.dispatch(req({ hold: true }), 5000), pool.dispatch(req({ hold: true }), 5000)];
  assert.equal(await rejectionCode(pool.dispatch(req(), 5000)), 'ACTORRT_E_MAILBOX_FULL');
  pool.reconfigure(poolConfig({ size: 2, mailbox: { capacity: 2, overflow: 'reject' } }));
  held.push(pool.dispatch(req({ hold: true }), 5000));
  await eventually('the third request reached the process', () => a.held.length === 3);
  a.release();
  await Promise.all(held);
});

test('answers POOL_DOWN when no listed process is reachable', async (t) => {
  const dir = tempDir('remote-pool');
  const pool = remotePool(t, poolConfig(), [join(dir, 'nobody.sock')]);
  assert.equal(await rejectionCode(pool.dispatch(req(), 5000)), 'ACTORRT_E_POOL_DOWN');
  assert.equal(pool.available, true, 'unreachable is not down: the supervisor decides that');
});

test('markDown answers POOL_DOWN with the reason without reaching the process; markUp serves again', async (t) => {
  const [a] = await processes(t, 'a') as [FakeProcess];
  const pool = remotePool(t, poolConfig(), [a.path]);
  await untilServedBy(pool, 'a');
  pool.markDown('more than 3 restarts in 5000 ms');
  assert.equal(pool.available, false);
  await assert.rejects(pool.dispatch(req(), 5000),
    (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_POOL_DOWN' && err.message === 'pool "p" is down: more than 3 restarts in 5000 ms');
  pool.markUp();
  assert.equal(await fromOf(pool.dispatch(req(), 5000)), 'a');
});

test('a process no longer listed gets no new requests and its channel closes once its requests are answered', async (t) => {
  const [a, b] = await processes(t, 'a', 'b') as [FakeProcess, FakeProcess];
  const pool = remotePool(t, poolConfig(), [a.path]);
  await untilServedBy(pool, 'a');
  const onA = pool.dispatch(req({ hold: true }), 5000);
  await eventually('the request reached a', () => a.held.length === 1);
  pool.setEndpoints([b.path]);
  await untilServedBy(pool, 'b');
  for (let i = 0; i < 5; i++) assert.equal(await fromOf(pool.dispatch(req(), 5000)), 'b');
  let gone = false;
  const aGone = a.peersGone().then(() => { gone = true; });
  assert.equal(await fromOf(pool.dispatch(req(), 5000)), 'b', 'a round trip later');
  assert.equal(gone, false, 'a is still connected: it has a request to answer');
  a.release();
  assert.equal(await fromOf(onA), 'a', 'the request in flight on the removed process is answered');
  await aGone;
});

test('a replacement still connecting: requests go on to the process it replaces until it connects, which then closes', async (t) => {
  const [a] = await processes(t, 'a') as [FakeProcess];
  const dir = tempDir('remote-pool');
  const b = new FakeProcess('b', join(dir, 'b.sock'));
  t.after(() => b.dispose());
  const pool = remotePool(t, poolConfig(), [a.path]);
  await untilServedBy(pool, 'a');
  pool.setEndpoints([b.path]); // b does not listen yet
  assert.equal(await fromOf(pool.dispatch(req(), 5000)), 'a', 'no 503 in the gap');
  await b.listen();
  pool.setEndpoints([b.path]); // the primary republishes b once it is ready
  await untilServedBy(pool, 'b');
  await a.peersGone();
});

test('a process that goes away fails its requests in flight with ACTOR_CRASHED, then POOL_DOWN until it is back', async (t) => {
  const [a] = await processes(t, 'a') as [FakeProcess];
  const pool = remotePool(t, poolConfig(), [a.path]);
  await untilServedBy(pool, 'a');
  const inflight = pool.dispatch(req({ hold: true }), 5000);
  await eventually('the request reached a', () => a.held.length === 1);
  const failed = rejectionCode(inflight);
  a.held.splice(0); // its process dies with the request unanswered
  await a.close();
  assert.equal(await failed, 'ACTORRT_E_ACTOR_CRASHED');
  assert.equal(await rejectionCode(pool.dispatch(req(), 5000)), 'ACTORRT_E_POOL_DOWN');
  await a.listen();
  pool.setEndpoints([a.path]); // republished: reconnect now rather than at the end of the backoff
  await untilServedBy(pool, 'a');
});

test('stop refuses new requests at once, lets those in flight be answered, then closes the channel', async (t) => {
  const [a] = await processes(t, 'a') as [FakeProcess];
  const pool = remotePool(t, poolConfig(), [a.path]);
  await untilServedBy(pool, 'a');
  const inflight = pool.dispatch(req({ hold: true }), 5000);
  await eventually('the request reached a', () => a.held.length === 1);
  const stopping = pool.stop(60_000);
  assert.equal(pool.available, false);
  await assert.rejects(pool.dispatch(req(), 5000), (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_POOL_DOWN' && /stopping/.test(err.message));
  a.release();
  assert.equal(await fromOf(inflight), 'a');
  await stopping;
  await a.peersGone();
});
