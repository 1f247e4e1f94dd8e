import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { ActorrtError, type ErrorCode } from '../../runtime/errors.js';
import { leastLoaded, PoolBase, poolDown } from '../../runtime/pool/pool-base.js';
import { childTrace } from '../../runtime/trace/trace-context.js';

/** A member as the base sees one: its load, and whether it takes requests. */
interface Fake {
  readonly name: string;
  inflight: number;
  open: boolean;
}

const open = (m: Fake): boolean => m.open;
const member = (name: string, inflight = 0, isOpen = true): Fake => ({ name, inflight, open: isOpen });

function poolConfig(over: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name: 'p', actor: '/dev/null', size: 2, resources: [], mailbox: { capacity: 2, overflow: 'reject' }, timeout: 1000, drainTimeout: 1000,
    supervision: { strategy: 'one-for-one', maxRestarts: 3, within: 5000, backoff: { min: 10, max: 50 } },
    ...over,
  };
}

const req: ActorRequest = { method: 'GET', path: '/', params: {}, query: {}, headers: {}, body: undefined, requestId: 'r1', ip: '127.0.0.1', protocol: 'http', trace: childTrace(undefined) };

/**
 * The smallest pool on the base: a dispatch takes a slot on the member the base admits and
 * answers with its name; finish() frees the slot as an answered request would.
 */
class FakePool extends PoolBase<Fake> {
  readonly closed: Fake[] = [];

  constructor(config: PoolConfig, members: readonly Fake[]) {
    super(config, open);
    this.members.push(...members);
  }

  dispatch(_req: ActorRequest, _timeout: number): Promise<unknown> {
    const to = this.admit();
    if (to instanceof ActorrtError) return Promise.reject(to);
    to.inflight++;
    return Promise.resolve(to.name);
  }

  finish(m: Fake): void {
    m.inflight--;
    this.requestDone();
  }

  add(m: Fake): void {
    this.members.push(m);
  }

  replaceMembers(members: Fake[]): void {
    this.members = members;
    this.restartRotation();
  }

  remove(m: Fake): boolean {
    return this.leave(m);
  }

  reconfigure(config: PoolConfig): void {
    this.configure(config);
  }

  protected async closeMembers(timeout: number): Promise<void> {
    await this.whenDrained(timeout);
    this.closed.push(...this.members);
  }

  protected capacityOf(config: PoolConfig): number {
    return config.mailbox.capacity;
  }

  protected unreachable(): ActorrtError {
    return poolDown(`no member of pool "${this.name}" takes requests`);
  }

  protected full(): ActorrtError {
    return new ActorrtError('ACTORRT_E_MAILBOX_FULL', `pool "${this.name}" is full`);
  }
}

/** Await `work` with the event loop held open: stop's bounded wait uses an unref'd timer, which alone would let the test process end first. */
async function awake<T>(work: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 60_000);
  try {
    return await work;
  } finally {
    clearInterval(hold);
  }
}

async function refusal(p: Promise<unknown>): Promise<{ code: ErrorCode; message: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ActorrtError, String(err));
    return { code: err.code, message: err.message };
  }
  assert.fail('expected a refusal');
}

test('leastLoaded picks the member with the fewest in flight, skipping those that take no requests', () => {
  const members = [member('a', 3), member('b', 1, false), member('c', 2), member('d', 5)];
  assert.equal(leastLoaded(members, 0, open)?.name, 'c');
  assert.equal(leastLoaded([member('a', 0, false)], 0, open), undefined, 'none takes requests');
  assert.equal(leastLoaded([], 0, open), undefined, 'no members');
});

test('leastLoaded breaks ties by scan order from `start`, wrapping around', () => {
  const members = [member('a', 1), member('b', 1), member('c', 1)];
  assert.equal(leastLoaded(members, 0, open)?.name, 'a');
  assert.equal(leastLoaded(members, 1, open)?.name, 'b');
  assert.equal(leastLoaded(members, 2, open)?.name, 'c');
  assert.equal(leastLoaded(members, 4, open)?.name, 'b', 'a start past the end wraps');
});

test('leastLoaded stops scanning at the first idle member it meets', () => {
  const seen: string[] = [];
  const members = [member('a', 2), member('b', 0), member('c', 0), member('d', 1)];
  const best = leastLoaded(members, 0, (m) => { seen.push(m.name); return true; });
  assert.equal(best?.name, 'b');
  assert.deepEqual(seen, ['a', 'b']);
});

test('dispatch goes to the least-loaded member; equally loaded members take turns', async () => {
  const [a, b, c] = [member('a'), member('b'), member('c')];
  const pool = new FakePool(poolConfig({ mailbox: { capacity: 100, overflow: 'reject' } }), [a, b, c]);
  // Each dispatch keeps its slot, so the load stays level and the rotation decides.
  const order = [];
  for (let i = 0; i < 6; i++) order.push(await pool.dispatch(req, 1000));
  assert.deepEqual(order, ['a', 'b', 'c', 'a', 'b', 'c']);
  pool.finish(b);
  pool.finish(b);
  assert.equal(await pool.dispatch(req, 1000), 'b', 'the member with fewer in flight wins whatever the rotation');
});

test('a new member list restarts the rotation at its first member', async () => {
  const pool = new FakePool(poolConfig({ mailbox: { capacity: 100, overflow: 'reject' } }), [member('a'), member('b')]);
  await pool.dispatch(req, 1000);
  pool.replaceMembers([member('x', 1), member('y', 1), member('z', 1)]);
  assert.equal(await pool.dispatch(req, 1000), 'x');
});

test('members that take no requests are never chosen; with none left the pool answers the subclass refusal', async () => {
  const a = member('a', 0, false);
  const b = member('b', 5);
  const pool = new FakePool(poolConfig({ mailbox: { capacity: 100, overflow: 'reject' } }), [a, b]);
  assert.equal(await pool.dispatch(req, 1000), 'b', 'the busy open member, not the idle closed one');
  b.open = false;
  assert.deepEqual(await refusal(pool.dispatch(req, 1000)), { code: 'ACTORRT_E_POOL_DOWN', message: 'no member of pool "p" takes requests' });
  assert.equal(pool.available, true, 'refusing one request does not put the pool down');
});

test('the least-loaded member at capacity means MAILBOX_FULL; a reconfigured capacity applies to the next request', async () => {
  const a = member('a');
  const pool = new FakePool(poolConfig({ mailbox: { capacity: 2, overflow: 'reject' } }), [a]);
  await pool.dispatch(req, 1000);
  await pool.dispatch(req, 1000);
  assert.equal((await refusal(pool.dispatch(req, 1000))).code, 'ACTORRT_E_MAILBOX_FULL');
  assert.equal(a.inflight, 2, 'a refused request takes no slot');
  pool.reconfigure(poolConfig({ mailbox: { capacity: 3, overflow: 'reject' } }));
  assert.equal(await pool.dispatch(req, 1000), 'a');
});

test('markDown refuses every request with POOL_DOWN naming the reason until markUp', async () => {
  const pool = new FakePool(poolConfig(), [member('a')]);
  pool.markDown('more than 3 restarts in 5000 ms');
  assert.equal(pool.available, false);
  assert.deepEqual(await refusal(pool.dispatch(req, 1000)), { code: 'ACTORRT_E_POOL_DOWN', message: 'pool "p" is down: more than 3 restarts in 5000 ms' });
  pool.markDown('a second reason');
  assert.match((await refusal(pool.dispatch(req, 1000))).message, /a second reason/, 'the latest reason is the one answered');
  pool.markUp();
  assert.equal(pool.available, true);
  assert.equal(await pool.dispatch(req, 1000), 'a');
});

test('depth is what every member holds, queued and running; a member that leaves takes its load with it', async () => {
  const [a, b] = [member('a', 2), member('b', 3)];
  const pool = new FakePool(poolConfig(), [a, b]);
  assert.equal(pool.depth, 5);
  pool.finish(b);
  assert.equal(pool.depth, 4);
  pool.add(member('c', 1, false));
  assert.equal(pool.depth, 5, 'members that take no new requests still count what they hold');
  assert.equal(pool.remove(a), true);
  assert.equal(pool.remove(a), false, 'leaving twice is harmless');
  assert.equal(pool.depth, 3);
});

test('stop refuses new requests at once, waits until the depth is 0, then closes the members', async () => {
  const [a, b] = [member('a'), member('b')];
  const pool = new FakePool(poolConfig({ mailbox: { capacity: 100, overflow: 'reject' } }), [a, b]);
  await pool.dispatch(req, 1000);
  await pool.dispatch(req, 1000);
  let stopped = false;
  const stopping = pool.stop(60_000).then(() => { stopped = true; });
  assert.equal(pool.available, false);
  assert.deepEqual(await refusal(pool.dispatch(req, 1000)), { code: 'ACTORRT_E_POOL_DOWN', message: 'pool "p" is stopping' });
  pool.finish(a);
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'one request is still in flight');
  assert.equal(pool.closed.length, 0);
  pool.finish(b);
  await stopping;
  assert.deepEqual(pool.closed.map((m) => m.name), ['a', 'b']);
});

test('stop closes the members once `timeout` passes even if a request never finishes', async () => {
  const a = member('a', 1);
  const pool = new FakePool(poolConfig(), [a]);
  await awake(pool.stop(10));
  assert.deepEqual(pool.closed.map((m) => m.name), ['a']);
  assert.equal(pool.depth, 1, 'the stuck request is still counted');
});

test('stop of an idle pool closes at once, and a pool already down keeps its reason', async () => {
  const pool = new FakePool(poolConfig(), [member('a')]);
  pool.markDown('escalated');
  await pool.stop(60_000);
  assert.equal(pool.closed.length, 1);
  assert.equal((await refusal(pool.dispatch(req, 1000))).message, 'pool "p" is down: escalated');
});
