import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { start as startSystem, stop as stopSystem } from 'nact';
import { pino } from 'pino';
import type { ActorRequest } from '../../actors/index.js';
import type { Config } from '../../config/types.js';
import { loadConfigSource } from '../../config/validate.js';
import { ActorrtError } from '../../runtime/errors.js';
import type { Pool } from '../../runtime/pool/pool.js';
import { PoolHost } from '../../runtime/pool/pool-host.js';
import { Resources } from '../../runtime/resources/resources.js';
import type { SupervisionEvent } from '../../runtime/supervision/counters.js';
import { eventually, writeProject, rejectionCode } from '../helpers.js';
import { childTrace } from '../../runtime/trace/trace-context.js';

const silent = pino({ level: 'silent' });

/** Requests the test actors hold (body `{ hold: true }`) until the test answers them. */
const held: Array<() => void> = [];
(globalThis as { poolHostHeld?: typeof held }).poolHostHeld = held;

function release(): void {
  for (const answer of held.splice(0)) answer();
}

const COUNTER = `let births = 0;
export default {
  init: () => ({ n: 0, born: ++births }),
  receive: async (state, req) => {
    if (req.body?.hold === true) await new Promise((resolve) => globalThis.poolHostHeld.push(resolve));
    state.n += 1;
    return { status: 200, body: { module: 'counter', n: state.n, born: state.born } };
  },
};
`;

const ACTORS = {
  'actors/counter.mjs': COUNTER,
  'actors/other.mjs': COUNTER.replace("module: 'counter'", "module: 'other'"),
  'actors/broken.mjs': `export default { init: () => { throw new Error('no database'); }, receive: () => ({}) };\n`,
  'actors/asker.mjs': `export default {
  receive: async (state, req, ctx) => {
    try {
      return { status: 200, body: { answer: await ctx.ask(req.body.to, { from: 'asker' }) } };
    } catch (err) {
      return { status: 200, body: { code: err.code } };
    }
  },
};
`,
};

/** A topology: `pools` is the YAML under `pools:` (two-space indented entries). */
function topology(pools: string): string {
  return `version: 1\npools:\n${pools}routes:\n  - match: { method: GET, path: /a }\n    pool: api\n`;
}

const API = (size: number, actor = 'counter', extra = ''): string => `  api:\n    actor: ./actors/${actor}.mjs\n    size: ${size}\n${extra}`;
const HELPER = `  helper:\n    actor: ./actors/asker.mjs\n    size: 1\n`;
const FAR = `  far:\n    actor: ./actors/counter.mjs\n    processes: 1\n`;

interface Fixture {
  readonly host: PoolHost;
  /** The topology `pools` loaded from the test's project folder (actor paths stay the same across shapes). */
  shape(pools: string): Config;
  /** Where pool `name`'s process would listen (nothing listens: these pools are reached, never served, here). */
  socket(name: string): string;
  readonly escalations: string[];
  readonly supervision: Array<[string, SupervisionEvent, number]>;
}

/** A pool host as a process builds one (real nact system, real (empty) resources); local pools are those without `processes`. */
async function startHost(t: TestContext): Promise<Fixture> {
  const file = writeProject(topology(API(1)), ACTORS);
  const first = loadConfigSource(topology(API(1)), file);
  const system = startSystem();
  const resources = await Resources.open(first, [], silent);
  const escalations: string[] = [];
  const supervision: Array<[string, SupervisionEvent, number]> = [];
  const host = new PoolHost({
    log: silent, system, resources, caches: {},
    local: (config) => Object.values(config.pools).filter((p) => p.processes === undefined),
    onSupervision: (pool, event, count) => { supervision.push([pool, event, count]); },
    onEscalate: (pool, reason) => { escalations.push(`${pool}: ${reason}`); },
    onResource: () => {},
  });
  t.after(async () => {
    release();
    await host.close(1000);
    await resources.close();
    stopSystem(system);
  });
  return {
    host,
    shape: (pools) => loadConfigSource(topology(pools), file),
    socket: (name) => join(dirname(file), `${name}.sock`),
    escalations,
    supervision,
  };
}

let ids = 0;
function req(body?: unknown): ActorRequest {
  return { method: 'GET', path: '/a', params: {}, query: {}, headers: {}, body, requestId: `r${++ids}`, ip: '127.0.0.1', protocol: 'http', trace: childTrace(undefined) };
}

interface Body { readonly module?: string; readonly n?: number; readonly born?: number; readonly answer?: Body; readonly code?: string }

async function bodyOf(pool: Pool | undefined, body?: unknown): Promise<Body> {
  assert.ok(pool !== undefined, 'the pool exists');
  return ((await pool.dispatch(req(body), 5000)) as { body: Body }).body;
}

test('apply starts the local pools, ready when it resolves, and reaches the others over channels', async (t) => {
  const { host, shape, socket } = await startHost(t);
  const retired = await host.apply(shape(API(2) + HELPER + FAR), { far: [socket('far')] }, {});
  assert.deepEqual(retired, []);
  assert.deepEqual(host.loads(), [{ pool: 'api', actors: 2, depth: 0, busy: 0, completed: 0, inflightSeconds: 0, busySeconds: 0 }, { pool: 'helper', actors: 1, depth: 0, busy: 0, completed: 0, inflightSeconds: 0, busySeconds: 0 }]);
  assert.ok(host.local('api') !== undefined && host.local('helper') !== undefined);
  assert.equal(host.local('far'), undefined, 'a pool of other processes is not served from here');
  assert.ok(host.get('far') !== undefined, 'but it is reachable by name');
  assert.equal((await bodyOf(host.get('api'))).module, 'counter');
  assert.deepEqual([...host.snapshot().keys()].sort(), ['api', 'far', 'helper']);
});

test('apply resizes a local pool in place, keeping its actors\' state; loads report actors and depth', async (t) => {
  const { host, shape } = await startHost(t);
  await host.apply(shape(API(2)), {}, {});
  const api = host.get('api');
  const before = await bodyOf(api);
  assert.deepEqual(await host.apply(shape(API(4, 'counter', '    timeout: 7s\n')), {}, {}), [], 'nothing to retire');
  assert.equal(host.get('api'), api, 'the same pool, grown');
  assert.equal(api?.config.timeout, 7000, 'new settings in force');
  assert.deepEqual(host.loads(), [{ pool: 'api', actors: 4, depth: 0, busy: 0, completed: 1, inflightSeconds: 0, busySeconds: 0 }], 'counters go on through a resize; integrals only for autoscaled pools');
  const holding = [bodyOf(api, { hold: true }), bodyOf(api, { hold: true })];
  assert.deepEqual(host.loads(), [{ pool: 'api', actors: 4, depth: 2, busy: 2, completed: 1, inflightSeconds: 0, busySeconds: 0 }]);
  await eventually('both requests reached an actor', () => held.length === 2);
  release();
  await Promise.all(holding);
  // One request after another: each finds every actor idle, and the rotation hands one to each.
  const grown = [];
  for (let i = 0; i < 4; i++) grown.push(await bodyOf(api));
  assert.equal(new Set(grown.map((b) => b.born)).size, 4, 'the four actors answer');
  assert.equal(grown.find((b) => b.born === before.born)?.n, 2, 'the first actor kept its state through the resize');
  await host.apply(shape(API(1)), {}, {});
  assert.equal(host.loads()[0]?.actors, 1, 'shrunk at once');
  const shrunk = [];
  for (let i = 0; i < 3; i++) shrunk.push(await bodyOf(api));
  assert.equal(new Set(shrunk.map((b) => b.born)).size, 1, 'one actor answers');
});

test('apply replaces a local pool whose actor module changed; the old one is handed back, and retire drains it', async (t) => {
  const { host, shape } = await startHost(t);
  await host.apply(shape(API(1)), {}, {});
  const old = host.get('api');
  const inflight = bodyOf(old, { hold: true });
  await eventually('the request reached the old actor', () => held.length === 1);
  const retired = await host.apply(shape(API(1, 'other')), {}, {});
  assert.deepEqual(retired, [old]);
  assert.notEqual(host.get('api'), old);
  assert.equal((await bodyOf(host.get('api'))).module, 'other', 'the new module serves at once');
  host.retire(retired);
  assert.ok(old !== undefined);
  assert.equal(old.available, false, 'the retired pool takes nothing new');
  assert.equal(await rejectionCode(old.dispatch(req(), 5000)), 'ACTORRT_E_POOL_DOWN');
  release();
  assert.equal((await inflight).module, 'counter', 'what it was sent is answered');
});

test('apply hands back the pools the topology no longer has; a snapshot taken before keeps them', async (t) => {
  const { host, shape, socket } = await startHost(t);
  await host.apply(shape(API(1) + HELPER + FAR), { far: [socket('far')] }, {});
  const table = host.snapshot();
  const helper = host.get('helper');
  const far = host.get('far');
  const retired = await host.apply(shape(API(1)), {}, {});
  assert.deepEqual(new Set(retired), new Set([helper, far]));
  assert.equal(host.get('helper'), undefined);
  assert.equal(host.get('far'), undefined);
  assert.equal(table.get('helper'), helper, 'a routing table keeps the map it was built with');
  assert.deepEqual(host.loads().map((l) => l.pool), ['api']);
  host.retire(retired);
});

test('a pool that moves to processes of its own is replaced by a remote one, and back', async (t) => {
  const { host, shape, socket } = await startHost(t);
  await host.apply(shape(API(1)), {}, {});
  const inline = host.get('api');
  const toRemote = await host.apply(shape(API(1, 'counter', '    processes: 1\n')), { api: [socket('api')] }, {});
  assert.deepEqual(toRemote, [inline]);
  assert.equal(host.local('api'), undefined);
  assert.deepEqual(host.loads(), [], 'no local pool left');
  const remote = host.get('api');
  assert.ok(remote !== undefined && remote !== inline);
  const toInline = await host.apply(shape(API(1)), {}, {});
  assert.deepEqual(toInline, [remote]);
  assert.ok(host.local('api') !== undefined);
  host.retire([...toRemote, ...toInline]);
});

test('markDown and apply\'s down map make a remote pool answer POOL_DOWN with the reason; an apply without it revives the pool', async (t) => {
  const { host, shape, socket } = await startHost(t);
  const config = shape(API(1) + FAR);
  const endpoints = { far: [socket('far')] };
  await host.apply(config, endpoints, {});
  const far = host.get('far');
  assert.ok(far !== undefined);
  host.markDown('far', 'more than 3 restarts in 5000 ms');
  assert.equal(far.available, false);
  await assert.rejects(far.dispatch(req(), 5000),
    (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_POOL_DOWN' && err.message === 'pool "far" is down: more than 3 restarts in 5000 ms');
  await host.apply(config, endpoints, {});
  assert.equal(host.get('far'), far, 'the same handle');
  assert.equal(far.available, true, 'a reload that no longer lists it down revives it');
  await host.apply(config, endpoints, { far: 'its processes keep failing to start' });
  assert.equal(far.available, false, 'the down map of a reload applies too');
  host.markDown('nope', 'unknown pools are ignored');
  host.markDown('api', 'a local pool goes down by its own supervision only');
  assert.equal(host.get('api')?.available, true);
});

test('apply rejects with ACTOR_INIT when a new pool\'s init() throws; the pools applied before keep serving', async (t) => {
  const { host, shape } = await startHost(t);
  await host.apply(shape(API(1)), {}, {});
  const api = host.get('api');
  await assert.rejects(host.apply(shape(API(1) + '  bad:\n    actor: ./actors/broken.mjs\n'), {}, {}),
    (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_ACTOR_INIT' && /"bad".*no database/.test(err.message));
  assert.equal(host.get('bad'), undefined);
  assert.equal(host.get('api'), api);
  assert.equal((await bodyOf(api)).module, 'counter');
});

test('ctx.ask reaches another pool by name, looked up live, and names an unknown one with UNKNOWN_POOL', async (t) => {
  const { host, shape } = await startHost(t);
  await host.apply(shape(API(1) + HELPER), {}, {});
  const helper = host.get('helper');
  assert.equal((await bodyOf(helper, { to: 'api' })).answer?.module, 'counter');
  host.retire(await host.apply(shape(API(1, 'other') + HELPER), {}, {}));
  assert.equal((await bodyOf(helper, { to: 'api' })).answer?.module, 'other', 'the pool now named api answers');
  assert.equal((await bodyOf(helper, { to: 'nope' })).code, 'ACTORRT_E_UNKNOWN_POOL');
});

test('close stops every pool in reverse order, each after what it holds is answered', async (t) => {
  const { host, shape, socket } = await startHost(t);
  await host.apply(shape(FAR + API(1) + HELPER), { far: [socket('far')] }, {});
  const [far, api, helper] = ['far', 'api', 'helper'].map((name) => host.get(name)) as [Pool, Pool, Pool];
  const inflight = bodyOf(api, { hold: true });
  await eventually('the request reached the actor', () => held.length === 1);
  const closing = host.close(60_000);
  await eventually('api refuses new requests', () => !api.available);
  assert.equal(helper.available, false, 'helper, started after api, stopped before it');
  assert.equal(far.available, true, 'far, started first, waits for api to drain');
  release();
  assert.equal((await inflight).n, 1, 'the request api held is answered');
  await closing;
  assert.equal(far.available, false);
});
