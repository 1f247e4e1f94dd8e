import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { start as startSystem } from 'nact';
import { pino } from 'pino';
import { defineActor, type ActorContext, type ActorDefinition, type ActorRequest } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { ActorrtError } from '../../runtime/errors.js';
import { InlinePool } from '../../runtime/pool/inline-pool.js';
import { isConnectionError } from '../../runtime/resources/connection-errors.js';
import type { SupervisionEvent } from '../../runtime/supervision/counters.js';
import { eventually, type LogLine, rejectionCode } from '../helpers.js';
import { childTrace } from '../../runtime/trace/trace-context.js';

const silent = pino({ level: 'silent' });

/** A logger that keeps what the pool logs (pino JSON lines, parsed). */
function capturing(): { log: typeof silent; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, log: pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as LogLine); } }) };
}

function poolConfig(over: Partial<PoolConfig> & { strategy?: PoolConfig['supervision']['strategy']; maxRestarts?: number } = {}): PoolConfig {
  const { strategy, maxRestarts, ...rest } = over;
  return {
    name: 'p', actor: '/dev/null', size: 2, resources: [], mailbox: { capacity: 100, overflow: 'reject' }, timeout: 1000, drainTimeout: 1000,
    supervision: { strategy: strategy ?? 'one-for-one', maxRestarts: maxRestarts ?? 3, within: 5000, backoff: { min: 10, max: 50 } },
    ...rest,
  };
}

interface State { n: number; readonly born: number }

let births = 0;
/** The test actor; `wait` is how long a request keeps it busy (a slow message is the behaviour under test). */
const counter = defineActor<State>({
  init: () => ({ n: 0, born: ++births }),
  receive: async (state, req) => {
    const body = req.body as { crash?: boolean; dbDown?: boolean; wait?: number } | undefined;
    if (body?.wait !== undefined) await sleep(body.wait);
    if (body?.crash === true) throw new Error('poison message');
    if (body?.dbDown === true) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    state.n += 1;
    return { n: state.n, born: state.born, actor: req.params['actor'] };
  },
});

async function startPool(config: PoolConfig, actor: ActorDefinition<State> = counter, escalations: string[] = [],
  events: Array<[SupervisionEvent, number]> = [], log = silent, parent = startSystem()): Promise<InlinePool> {
  const pool = new InlinePool(config, actor as never, {
    parent,
    log,
    contextFor: (index) => ({ resources: {}, caches: {}, log: silent, self: { pool: config.name, index, pid: process.pid }, ask: () => Promise.reject(new Error('no')) }) as ActorContext<unknown>,
    resourceFailure: (err) => (isConnectionError(err) ? new ActorrtError('ACTORRT_E_RESOURCE_UNAVAILABLE', 'db down') : undefined),
    onSupervision: (event, count) => { events.push([event, count]); },
    onEscalate: (_pool, reason) => { escalations.push(reason); },
  });
  await pool.start();
  return pool;
}

let ids = 0;
function req(body?: unknown): ActorRequest {
  return { method: 'POST', path: '/', params: {}, query: {}, headers: {}, body, requestId: `r${++ids}`, ip: '127.0.0.1', protocol: 'http', trace: childTrace(undefined) };
}

test('spreads concurrent requests across actors (least loaded first)', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 3 }));
  const replies = await Promise.all([0, 1, 2].map(() => pool.dispatch(req({ wait: 20 }), 1000))) as State[];
  assert.deepEqual(new Set(replies.map((r) => r.born)).size, 3, 'three different actors answered');
  await pool.stop(100);
});

test('handles one message at a time per actor, in order', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 1 }));
  const replies = await Promise.all(Array.from({ length: 10 }, () => pool.dispatch(req(), 1000))) as State[];
  assert.deepEqual(replies.map((r) => r.n), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await pool.stop(100);
});

test('rejects with MAILBOX_FULL when every actor is at capacity, never queueing beyond it', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 2, mailbox: { capacity: 2, overflow: 'reject' } }));
  const accepted = Array.from({ length: 4 }, () => pool.dispatch(req({ wait: 50 }), 1000));
  assert.equal(pool.depth, 4);
  assert.equal(await rejectionCode(pool.dispatch(req(), 1000)), 'ACTORRT_E_MAILBOX_FULL');
  await Promise.all(accepted);
  assert.equal(pool.depth, 0);
  await pool.dispatch(req(), 1000);
  await pool.stop(100);
});

test('times out with TIMEOUT, drops the late reply, and skips queued messages that already timed out', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 1 }));
  const slow = pool.dispatch(req({ wait: 100 }), 30);
  const queued = pool.dispatch(req(), 30);
  assert.equal(await rejectionCode(slow), 'ACTORRT_E_TIMEOUT');
  assert.equal(await rejectionCode(queued), 'ACTORRT_E_TIMEOUT');
  await eventually('the slow message ran and the timed-out one was skipped', () => pool.depth === 0, 5000);
  // The queued message timed out before the actor reached it, so it never ran: n is still 1 after the next one.
  const next = await pool.dispatch(req(), 1000) as State;
  assert.equal(next.n, 2, 'the slow message ran (n=1) and the skipped one did not');
  assert.equal(pool.depth, 0);
  await pool.stop(100);
});

test('one-for-one: a crash fails only its request, restarts only that actor (state reset), siblings keep state', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 2 }));
  // Warm both actors up so each has state.
  const warm = await Promise.all([pool.dispatch(req({ wait: 10 }), 1000), pool.dispatch(req({ wait: 10 }), 1000)]) as State[];
  const bornBefore = new Set(warm.map((r) => r.born));
  assert.equal(await rejectionCode(pool.dispatch(req({ crash: true }), 1000)), 'ACTORRT_E_ACTOR_FAILED');
  const after = await Promise.all([pool.dispatch(req({ wait: 10 }), 1000), pool.dispatch(req({ wait: 10 }), 1000)]) as State[];
  const reborn = after.filter((r) => !bornBefore.has(r.born));
  const kept = after.filter((r) => bornBefore.has(r.born));
  assert.equal(reborn.length, 1, 'exactly one actor was restarted');
  assert.equal(reborn[0]?.n, 1, 'its state was rebuilt by init()');
  assert.equal(kept[0]?.n, 2, 'the sibling kept its state');
  await pool.stop(100);
});

test('one-for-all: a crash restarts every actor of the pool', { timeout: 30_000 }, async () => {
  const events: Array<[SupervisionEvent, number]> = [];
  const pool = await startPool(poolConfig({ size: 2, strategy: 'one-for-all' }), counter, [], events);
  const warm = await Promise.all([pool.dispatch(req({ wait: 10 }), 1000), pool.dispatch(req({ wait: 10 }), 1000)]) as State[];
  await rejectionCode(pool.dispatch(req({ crash: true }), 1000));
  const after = await Promise.all([pool.dispatch(req({ wait: 10 }), 1000), pool.dispatch(req({ wait: 10 }), 1000)]) as State[];
  for (const r of after) assert.ok(!warm.some((w) => w.born === r.born), 'every actor was reborn');
  assert.deepEqual(events, [['actor-restart', 2]], 'counted: two actors restarted');
  await pool.stop(100);
});

test('queued messages survive a restart of their actor and run after it', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 1 }));
  const crash = pool.dispatch(req({ crash: true, wait: 10 }), 1000);
  const queued = [pool.dispatch(req(), 1000), pool.dispatch(req(), 1000)];
  assert.equal(await rejectionCode(crash), 'ACTORRT_E_ACTOR_FAILED');
  assert.deepEqual((await Promise.all(queued) as State[]).map((r) => r.n), [1, 2]);
  await pool.stop(100);
});

test('escalates when restarts exceed the intensity, failing the pool with POOL_DOWN', { timeout: 30_000 }, async () => {
  const escalations: string[] = [];
  const pool = await startPool(poolConfig({ size: 1, maxRestarts: 2 }), counter, escalations);
  for (let i = 0; i < 2; i++) assert.equal(await rejectionCode(pool.dispatch(req({ crash: true }), 1000)), 'ACTORRT_E_ACTOR_FAILED');
  assert.equal(escalations.length, 0);
  assert.equal(await rejectionCode(pool.dispatch(req({ crash: true }), 1000)), 'ACTORRT_E_ACTOR_FAILED');
  assert.equal(escalations.length, 1);
  assert.match(escalations[0] ?? '', /more than 2 restarts/);
  assert.equal(pool.available, false);
  assert.equal(await rejectionCode(pool.dispatch(req(), 1000)), 'ACTORRT_E_POOL_DOWN');
  await pool.stop(100);
});

test('waits the backoff between restarts within a window', { timeout: 30_000 }, async () => {
  const events: Array<[SupervisionEvent, number]> = [];
  const { log, lines } = capturing();
  const pool = await startPool(poolConfig({ size: 1, maxRestarts: 5, supervision: { strategy: 'one-for-one', maxRestarts: 5, within: 5000, backoff: { min: 80, max: 80 } } }),
    counter, [], events, log);
  await rejectionCode(pool.dispatch(req({ crash: true }), 1000)); // first restart: immediate
  assert.deepEqual(events, [['actor-restart', 1]], 'the first restart is done by the time its crash is answered');
  const bornBefore = births;
  await rejectionCode(pool.dispatch(req({ crash: true }), 1000)); // second: backs off 40-80 ms before the actor resumes
  assert.deepEqual(events, [['actor-restart', 1]], 'the second restart waits out its backoff after the crash is answered');
  const next = await pool.dispatch(req(), 1000) as State;
  assert.deepEqual(events, [['actor-restart', 1], ['actor-restart', 1]], 'the next message ran only after the backed-off restart');
  assert.equal(next.n, 1, 'answered by the restarted actor (fresh state)');
  assert.ok(next.born > bornBefore, 'answered by an actor born after the second crash');
  const delays = lines.filter((l) => l['pool'] === 'p' && l['action'] === 'restart-one').map((l) => l['delay']);
  assert.equal(delays[0], 0);
  assert.ok(typeof delays[1] === 'number' && delays[1] >= 40 && delays[1] <= 80, `the second restart's backoff: ${String(delays[1])} ms`);
  await pool.stop(100);
});

test('the stop strategy stops the failed actor; the pool goes down when none is left', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 1, strategy: 'stop' }));
  assert.equal(await rejectionCode(pool.dispatch(req({ crash: true }), 1000)), 'ACTORRT_E_ACTOR_FAILED');
  assert.equal(await rejectionCode(pool.dispatch(req(), 1000)), 'ACTORRT_E_POOL_DOWN');
  await pool.stop(100);
});

test('stop() lets in-flight messages finish, then calls each actor\'s stop()', { timeout: 30_000 }, async () => {
  const stopped: number[] = [];
  const actor = defineActor<State>({ ...counter, stop: (state) => { stopped.push(state.born); } });
  const pool = await startPool(poolConfig({ size: 2 }), actor);
  const inflight = pool.dispatch(req({ wait: 50 }), 1000);
  await pool.stop(1000);
  assert.equal((await inflight as State).n, 1);
  assert.equal(stopped.length, 2);
  assert.equal(await rejectionCode(pool.dispatch(req(), 1000)), 'ACTORRT_E_POOL_DOWN');
});

test('start() rejects with ACTOR_INIT naming the pool when an init throws', { timeout: 30_000 }, async () => {
  const actor = defineActor({ init: () => { throw new Error('no database'); }, receive: () => ({}) });
  await assert.rejects(startPool(poolConfig({ name: 'db-pool' }), actor as never),
    (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_ACTOR_INIT' && /db-pool.*no database/.test(err.message));
});

test('a connection error from a resource answers RESOURCE_UNAVAILABLE and is not counted as a crash', { timeout: 30_000 }, async () => {
  const escalations: string[] = [];
  const pool = await startPool(poolConfig({ size: 1, strategy: 'escalate', maxRestarts: 0 }), counter, escalations);
  const first = await pool.dispatch(req(), 1000) as State;
  for (let i = 0; i < 5; i++) assert.equal(await rejectionCode(pool.dispatch(req({ dbDown: true }), 1000)), 'ACTORRT_E_RESOURCE_UNAVAILABLE');
  const after = await pool.dispatch(req(), 1000) as State;
  assert.equal(after.born, first.born, 'the actor was not restarted');
  assert.equal(after.n, 2, 'its state survived');
  assert.deepEqual(escalations, [], 'nothing escalated although the policy escalates on the first crash');
  await pool.stop(100);
});

test('grows live: added actors take messages only once their init() is done', { timeout: 30_000 }, async () => {
  let inits = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const slowInit = defineActor<State>({
    init: async () => {
      inits++;
      if (inits > 2) await gate; // the actors added by the resize
      return { n: 0, born: inits };
    },
    receive: (state) => ({ born: state.born }),
  });
  const pool = await startPool(poolConfig({ size: 2 }), slowInit);
  const growing = pool.reconfigure(poolConfig({ size: 4 }));
  const during = await Promise.all(Array.from({ length: 8 }, () => pool.dispatch(req(), 1000))) as Array<{ born: number }>;
  assert.ok(during.every((r) => r.born <= 2), 'only the ready actors answered while the new ones were in init()');
  release();
  await growing;
  assert.equal(pool.actors, 4);
  const after = await Promise.all(Array.from({ length: 8 }, () => pool.dispatch(req(), 1000))) as Array<{ born: number }>;
  assert.ok(after.some((r) => r.born > 2), 'the added actors take messages');
  await pool.stop(100);
});

test('shrinks live: a retired actor takes no new message but finishes what it had queued', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 2 }));
  // Four slow messages: two per actor (least loaded with rotation).
  const queued = Array.from({ length: 4 }, () => pool.dispatch(req({ wait: 80 }), 2000));
  await pool.reconfigure(poolConfig({ size: 1, timeout: 2000 }));
  assert.equal(pool.actors, 1, 'the shrink is in force at once');
  assert.equal(pool.config.timeout, 2000, 'settings apply in place');
  const results = await Promise.all(queued) as Array<{ n: number }>;
  assert.equal(results.length, 4, 'every queued message was handled, none failed');
  const later = await Promise.all(Array.from({ length: 3 }, () => pool.dispatch(req(), 1000))) as Array<{ born: number }>;
  assert.equal(new Set(later.map((r) => r.born)).size, 1, 'only the remaining actor answers');
  await pool.stop(100);
});

test('a pool whose actors were all stopped by supervision serves again once a reload adds actors', { timeout: 30_000 }, async () => {
  const pool = await startPool(poolConfig({ size: 1, strategy: 'stop' }));
  assert.equal(await rejectionCode(pool.dispatch(req({ crash: true }), 1000)), 'ACTORRT_E_ACTOR_FAILED');
  assert.equal(await rejectionCode(pool.dispatch(req(), 1000)), 'ACTORRT_E_POOL_DOWN');
  await pool.reconfigure(poolConfig({ size: 2, strategy: 'stop' }));
  assert.equal(pool.actors, 1, 'the stopped actor keeps its slot (strategy stop leaves it stopped); the added one serves');
  assert.deepEqual(Object.keys(await pool.dispatch(req(), 1000) as object).sort(), ['actor', 'born', 'n']);
  await pool.stop(100);
});

test('a pool starts beside one of the same name on the same actor system (a changed module replaces a pool while the old one drains)', { timeout: 30_000 }, async (t) => {
  const parent = startSystem();
  const old = await startPool(poolConfig({ size: 2 }), counter, [], [], silent, parent);
  t.after(() => old.stop(100));
  const successor = await startPool(poolConfig({ size: 2 }), counter, [], [], silent, parent);
  t.after(() => successor.stop(100));
  const [a, b] = await Promise.all([old.dispatch(req(), 1000), successor.dispatch(req(), 1000)]) as [State, State];
  assert.notEqual(a.born, b.born, 'each pool answers with its own actors');
});

test('metered, a pool integrates its load on the clock: a synchronous actor counts as busy for the time it runs, a queued request as in flight', async () => {
  // CPU work: the actor returns only after spinning 5 ms; nothing awaits, so a timer would never see it busy.
  const spin = defineActor<State>({
    init: () => ({ n: 0, born: 0 }),
    receive: (state) => {
      const end = performance.now() + 5;
      while (performance.now() < end) { /* busy */ }
      return { n: ++state.n, born: state.born };
    },
  });
  const pool = await startPool(poolConfig({ size: 1 }), spin);
  try {
    await pool.dispatch(req(), 1000);
    assert.deepEqual(pool.metered, { inflightSeconds: 0, busySeconds: 0 }, 'not metered: nothing kept');
    pool.meter(true);
    await Promise.all(Array.from({ length: 10 }, () => pool.dispatch(req(), 1000)));
    const { inflightSeconds, busySeconds } = pool.metered;
    // Ten requests of 5 ms each on one actor: it was busy at least 50 ms; they waited in turn, so
    // the time in flight is the sum of their waits: at least 5 + 10 + ... + 50 ms.
    assert.ok(busySeconds >= 0.05, `busy ${busySeconds} s`);
    assert.ok(inflightSeconds >= 0.275 && inflightSeconds > busySeconds, `in flight ${inflightSeconds} s`);
    assert.equal(pool.completed, 11);
    pool.meter(false);
    await pool.dispatch(req(), 1000);
    assert.equal(pool.metered.busySeconds, busySeconds, 'off again: unchanged');
  } finally {
    await pool.stop(1000);
  }
});
