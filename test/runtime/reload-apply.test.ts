import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { applyScale } from '../../config/scale.js';
import type { Config } from '../../config/types.js';
import { loadConfig } from '../../config/validate.js';
import { ActorrtError } from '../../runtime/errors.js';
import type { ChildProcessLike, ForkRequest, ProcessEvents } from '../../runtime/primary/child-link.js';
import { FRONT, Processes } from '../../runtime/primary/processes.js';
import { planReload, type Deployed } from '../../runtime/primary/reload-plan.js';
import { applyPlan } from '../../runtime/primary/reload.js';
import { ProcessReports } from '../../runtime/primary/reports.js';
import type { ChildMessage, PrimaryMessage, ReconfigureMessage } from '../../runtime/protocol/messages.js';
import { PROTOCOL_VERSION } from '../../runtime/protocol/version.js';
import { VERSION } from '../../runtime/version.js';
import { eventually, ROOT } from '../helpers.js';

/**
 * Processes + applyPlan, with every child a fake process (no fork): grow, shrink, roll, a new
 * process that fails to start, a process that cannot apply the topology, and children that die
 * in the middle of the broadcast. The fakes die as node's children do: the IPC channel closes
 * ('disconnect') and the 'exit' follows in a later turn of the event loop.
 */

const RUNTIME_DIR = '/nonexistent/actorrt-reload-apply'; // only names sockets: nothing is created
const LISTENER = { fd: 0, port: 0, close: (): void => undefined };
const log = pino({ level: 'silent' });

const LOADED = loadConfig(join(ROOT, 'test', 'fixtures', 'runtime', 'isolated.yml'));
const KEEP = new Set(['echo', 'cpu', 'iso-asker']);
/** Two front workers (inline pool echo), isolated pools cpu (2 processes) and iso-asker (1). */
const BASE: Config = {
  ...LOADED,
  pools: Object.fromEntries(Object.entries(LOADED.pools).filter(([name]) => KEEP.has(name))),
  routes: LOADED.routes.filter((r) => r.pool !== undefined && KEEP.has(r.pool)),
};
const DIGESTS = { echo: 'e1', cpu: 'c1', 'iso-asker': 'i1' };
const deployed = (config: Config, workers = 2): Deployed => ({ config, digests: DIGESTS, workers });
const withProcesses = (counts: Record<string, number>): Config => applyScale(BASE, Object.entries(counts).map(([pool, value]) => ({ pool, key: 'processes' as const, value })));

const socket = (group: string, index: number): string => join(RUNTIME_DIR, `${group}.${index}.sock`);
const epipe = (): Error => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });

/** How a fake takes its next reconfigure. */
type OnReconfigure = 'refuse' | 'die' | 'die-at-once' | 'epipe';

/** Every fake child, what they were sent and what they did, in order. */
class World {
  readonly events: string[] = [];
  readonly children: FakeChild[] = [];
  /** Every reconfigure a child took, with its payload. */
  readonly reconfigures: Array<{ readonly name: string; readonly message: ReconfigureMessage }> = [];
  /** Names whose next start fails (one-shot). */
  readonly failStart = new Set<string>();
  /** Names whose next reconfigure goes this way (one-shot). */
  readonly onReconfigure = new Map<string, OnReconfigure>();
  /** While set, replies to reconfigure are held back until released. */
  private held: Array<() => void> | undefined;
  private nextPid = 20_000;

  readonly fork = (request: ForkRequest): ChildProcessLike => {
    const child = new FakeChild(this, this.nextPid++, request);
    this.children.push(child);
    return child;
  };

  event(e: string): void {
    this.events.push(e);
  }

  index(e: string): number {
    const i = this.events.indexOf(e);
    assert.ok(i >= 0, `no event "${e}" in:\n  ${this.events.join('\n  ')}`);
    return i;
  }

  holdReplies(): void {
    this.held = [];
  }

  releaseReplies(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const reply of held) reply();
  }

  reply(send: () => void): void {
    if (this.held === undefined) send();
    else this.held.push(send);
  }

  /** What every listed process was last told, by name. */
  lastReconfigure(name: string): ReconfigureMessage | undefined {
    return this.reconfigures.filter((r) => r.name === name).at(-1)?.message;
  }

  forget(): void {
    this.events.length = 0;
    this.reconfigures.length = 0;
  }
}

class FakeChild extends EventEmitter implements ChildProcessLike {
  connected = true;
  /** `worker 2`, `cpu process 1`: known once its start message arrives. */
  name = 'unstarted';
  private dead = false;

  constructor(private readonly world: World, readonly pid: number, readonly request: ForkRequest) {
    super();
  }

  listen(on: ProcessEvents): void {
    this.on('message', on.message);
    this.on('error', on.error);
    this.on('disconnect', on.disconnect);
    this.once('exit', on.exit);
    setImmediate(() => this.say({ type: 'booted', protocol: PROTOCOL_VERSION, version: VERSION }));
  }

  send(message: PrimaryMessage, done: (err: Error | null) => void): void {
    if (!this.connected) {
      setImmediate(done, Object.assign(new Error('Channel closed'), { code: 'ERR_IPC_CHANNEL_CLOSED' }));
      return;
    }
    if (message.type === 'start') this.name = `worker ${message.workerIndex}`;
    if (message.type === 'start-pool') this.name = `${message.pool} process ${message.index}`;
    this.world.event(`${this.name} <- ${message.type}${message.type === 'shutdown' ? ` ${message.mode}` : ''}`);
    const how = message.type === 'reconfigure' ? this.world.onReconfigure.get(this.name) : undefined;
    if (how !== undefined) this.world.onReconfigure.delete(this.name);
    if (how === 'epipe') {
      // The child died a moment ago: the write fails, and the link kills what is left of it.
      setImmediate(done, epipe());
      return;
    }
    setImmediate(done, null);
    setImmediate(() => this.take(message, how));
  }

  kill(signal: NodeJS.Signals): void {
    this.world.event(`${this.name} killed ${signal}`);
    this.die(null, signal);
  }

  private take(message: PrimaryMessage, how: OnReconfigure | undefined): void {
    if (this.dead) return;
    switch (message.type) {
      case 'start':
      case 'start-pool':
        if (this.world.failStart.delete(this.name)) {
          this.say({ type: 'startup-failed', code: 'ACTORRT_E_ACTOR_INIT', message: `${this.name}: init threw` });
          this.die(78, null);
          return;
        }
        this.world.event(`${this.name} ready`);
        this.say({ type: 'ready', port: 0, pools: [] });
        return;
      case 'reconfigure':
        this.world.reconfigures.push({ name: this.name, message });
        if (how === 'die') return this.die(null, 'SIGKILL');
        if (how === 'die-at-once') return this.die(null, 'SIGKILL', true);
        this.world.reply(() => this.say(how === 'refuse'
          ? { type: 'reply', id: message.id, ok: false, error: { code: 'ACTORRT_E_CONFIG_INVALID', message: 'cannot apply it here' } }
          : { type: 'reply', id: message.id, ok: true }));
        return;
      case 'stats': return this.say({ type: 'reply', id: message.id, ok: true, loads: [] });
      case 'invalidate': return this.say({ type: 'reply', id: message.id, ok: true });
      case 'shutdown': return this.die(0, null);
      default:
    }
  }

  private say(message: ChildMessage): void {
    if (!this.dead) this.emit('message', JSON.parse(JSON.stringify(message)) as unknown);
  }

  /** As node reports a child's death: the channel closes first, the exit follows a turn later (`atOnce`: both in one go). */
  private die(code: number | null, signal: NodeJS.Signals | null, atOnce = false): void {
    if (this.dead) return;
    this.dead = true;
    this.connected = false;
    const exit = (): void => {
      this.world.event(`${this.name} exited`);
      this.emit('exit', code, signal);
    };
    if (atOnce) {
      this.emit('disconnect');
      exit();
      return;
    }
    setImmediate(() => {
      this.emit('disconnect');
      setImmediate(exit);
    });
  }
}

/** Start BASE as the primary does (pool processes in order, then the front workers, then one broadcast); stopped at the end of the test. */
async function running(t: TestContext, config: Config = BASE): Promise<{ world: World; processes: Processes }> {
  const world = new World();
  const processes = new Processes(deployed(config), RUNTIME_DIR, LISTENER, log, new ProcessReports(() => config), (reason) => world.event(`front workers given up: ${reason}`),
    { fork: world.fork, readyTimeout: 10_000 });
  t.after(() => processes.supervisor.stopAll(1000, FRONT));
  for (const pool of Object.values(config.pools)) {
    for (let i = 0; i < (pool.processes ?? 0); i++) await processes.startPoolProcess(pool.name, true).ready;
  }
  await Promise.all([0, 1].map(() => processes.startFront().ready));
  await processes.broadcast();
  assert.deepStrictEqual(names(processes), ['cpu process 0', 'cpu process 1', 'iso-asker process 0', 'worker 0', 'worker 1']);
  world.forget();
  return { world, processes };
}

/** Names of the processes serving (not retiring), by group. */
function names(processes: Processes, group?: string): string[] {
  return processes.supervisor.list(group).filter((c) => c.state !== 'retiring').map((c) => c.spec.name).sort();
}

const allUp = (processes: Processes): boolean => processes.supervisor.list().every((c) => c.state === 'up');

// ---------------------------------------------------------------------------------------------

test('grow a pool: the new process is ready before the broadcast, and every process is told the topology that lists it', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const next = deployed(withProcesses({ cpu: 3 }));
  const plan = planReload(processes.deployed(), next);
  assert.deepStrictEqual(plan.isolated, [{ pool: 'cpu', from: 2, to: 3, roll: undefined }]);
  await applyPlan(processes, plan, next, log);

  const firstBroadcast = world.events.findIndex((e) => e.endsWith('<- reconfigure'));
  assert.ok(world.index('cpu process 2 ready') < firstBroadcast, world.events.join('\n'));
  assert.deepStrictEqual([...new Set(world.reconfigures.map((r) => r.name))].sort(), ['cpu process 0', 'cpu process 1', 'cpu process 2', 'iso-asker process 0', 'worker 0', 'worker 1']);
  for (const { name, message } of world.reconfigures) {
    assert.deepStrictEqual(message.endpoints['cpu'], [0, 1, 2].map((i) => socket('cpu', i)), name);
    assert.equal(message.config.pools['cpu']?.processes, 3, name);
  }
  assert.deepStrictEqual(names(processes, 'cpu'), ['cpu process 0', 'cpu process 1', 'cpu process 2']);
  assert.ok(allUp(processes));
  assert.equal(processes.deployed(), next);
  assert.ok(!world.events.some((e) => e.includes('shutdown') || e.includes('killed')), 'nothing stopped');
});

test('shrink a pool: the victim is unlisted before the broadcast, then told to retire', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const next = deployed(withProcesses({ cpu: 1 }));
  await applyPlan(processes, planReload(processes.deployed(), next), next, log);

  const retired = world.index('cpu process 1 <- shutdown retire');
  const told = world.events.map((e, i) => [e, i] as const).filter(([e]) => e.endsWith('<- reconfigure'));
  assert.ok(told.length > 0 && told.every(([, i]) => i < retired), `broadcast before the victim retires:\n  ${world.events.join('\n  ')}`);
  for (const { name, message } of world.reconfigures) {
    assert.deepStrictEqual(message.endpoints['cpu'], [socket('cpu', 0)], `${name} no longer routes to the victim`);
    assert.notEqual(name, 'cpu process 1', 'the victim is not told a topology that leaves it out');
  }
  await eventually('the victim exited and is forgotten', () => processes.supervisor.list('cpu').length === 1);
  assert.deepStrictEqual(names(processes, 'cpu'), ['cpu process 0']);
  assert.equal(processes.supervisor.pendingCalls(), 0);
});

test('roll: each process is replaced new before old, one at a time; the old one is unlisted everywhere before it retires', { timeout: 30_000 }, async (t) => {
  const { world, processes } = await running(t);
  const next = deployed(BASE);
  const plan = planReload(processes.deployed(), next, { roll: true });
  assert.equal(plan.front.roll, 'roll requested');
  await applyPlan(processes, plan, next, log);

  const pairs = [
    ['cpu process 0', 'cpu process 2', 'cpu', 'cpu', 0, 2], ['cpu process 1', 'cpu process 3', 'cpu', 'cpu', 1, 3],
    ['iso-asker process 0', 'iso-asker process 1', 'iso-asker', 'iso-asker', 0, 1],
    ['worker 0', 'worker 2', 'echo', '~front', 0, 2], ['worker 1', 'worker 3', 'echo', '~front', 1, 3],
  ] as const;
  for (const [old, fresh, pool, group, oldIndex, freshIndex] of pairs) {
    const retired = world.index(`${old} <- shutdown retire`);
    assert.ok(world.index(`${fresh} ready`) < retired, `${fresh} ready before ${old} retires`);
    // What every process was told just before `old` was retired: route to `fresh`, not to `old`.
    const before = world.events.slice(0, retired);
    const toldLast = new Map<string, number>();
    before.forEach((e, i) => { if (e.endsWith('<- reconfigure')) toldLast.set(e.slice(0, -' <- reconfigure'.length), i); });
    assert.ok(toldLast.size > 0, `a broadcast before ${old} retires`);
    const lastBroadcast = world.reconfigures.filter((r) => toldLast.has(r.name)).filter((r) => r.message.endpoints[pool]?.includes(socket(group, freshIndex)));
    assert.ok(lastBroadcast.length > 0, `the topology listing ${fresh} was broadcast before ${old} retired`);
    for (const r of lastBroadcast) assert.ok(!(r.message.endpoints[pool] ?? []).includes(socket(group, oldIndex)), `${r.name} was told to stop routing to ${old}`);
  }
  // One at a time: the next replacement of a group is started only after the previous old one was told to go.
  assert.ok(world.index('cpu process 0 <- shutdown retire') < world.index('cpu process 3 <- start-pool'));
  assert.ok(world.index('worker 0 <- shutdown retire') < world.index('worker 3 <- start'));
  await eventually('the old processes exited', () => processes.supervisor.list().length === 5);
  assert.deepStrictEqual(names(processes), ['cpu process 2', 'cpu process 3', 'iso-asker process 1', 'worker 2', 'worker 3']);
  assert.ok(allUp(processes));
});

test('a new process that fails to start fails the reload: the processes it started are stopped, victims kept, the previous topology broadcast again', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const previous = processes.deployed();
  const next = deployed(withProcesses({ cpu: 1, 'iso-asker': 3 }));
  const plan = planReload(previous, next);
  assert.deepStrictEqual(plan.isolated.map((s) => [s.pool, s.from, s.to]), [['cpu', 2, 1], ['iso-asker', 1, 3]], 'the victim is chosen before the failing start');
  world.failStart.add('iso-asker process 2');

  await assert.rejects(applyPlan(processes, plan, next, log), (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_ACTOR_INIT');
  assert.equal(processes.deployed(), previous, 'the previous topology is in force again');
  world.index('iso-asker process 1 <- shutdown stop'); // the fresh process that did start is stopped
  await eventually('the fresh processes are gone', () => processes.supervisor.list('iso-asker').length === 1);
  assert.deepStrictEqual(names(processes), ['cpu process 0', 'cpu process 1', 'iso-asker process 0', 'worker 0', 'worker 1'], 'the victim still serves');
  assert.ok(!world.events.some((e) => e.startsWith('cpu process 1 <- shutdown')), 'the victim was never told to go');
  assert.ok(allUp(processes));
  for (const name of ['cpu process 0', 'cpu process 1', 'iso-asker process 0', 'worker 0', 'worker 1']) {
    const told = world.lastReconfigure(name);
    assert.ok(told !== undefined, `${name} was told the previous topology again`);
    assert.equal(told.config, previous.config, name);
    assert.deepStrictEqual(told.endpoints['cpu'], [socket('cpu', 0), socket('cpu', 1)], name);
    assert.deepStrictEqual(told.endpoints['iso-asker'], [socket('iso-asker', 0)], name);
  }
  assert.equal(processes.supervisor.group('iso-asker').down, undefined, 'a failed reload does not give the pool up');
});

test('a process that cannot apply the topology fails the reload: victims are listed again and the previous topology is broadcast', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const previous = processes.deployed();
  const next = deployed(withProcesses({ cpu: 1 }));
  world.onReconfigure.set('worker 0', 'refuse');

  await assert.rejects(applyPlan(processes, planReload(previous, next), next, log), /worker 0 could not apply the topology: ACTORRT_E_CONFIG_INVALID/);
  assert.equal(processes.deployed(), previous);
  assert.deepStrictEqual(names(processes, 'cpu'), ['cpu process 0', 'cpu process 1'], 'the victim is listed again');
  assert.ok(allUp(processes));
  assert.ok(!world.events.some((e) => e.startsWith('cpu process 1 <- shutdown')), 'and was never told to go');
  for (const name of ['cpu process 0', 'cpu process 1', 'iso-asker process 0', 'worker 0', 'worker 1']) {
    const told = world.lastReconfigure(name);
    assert.equal(told?.config, previous.config, `${name} was told the previous topology last`);
    assert.deepStrictEqual(told?.endpoints['cpu'], [socket('cpu', 0), socket('cpu', 1)], name);
  }
});

test('a roll whose broadcast is refused fails the reload without leaving the replaced process running unlisted',
  { timeout: 20_000 }, async (t) => {
    const { world, processes } = await running(t);
    const previous = processes.deployed();
    const next = deployed(BASE);
    world.onReconfigure.set('worker 0', 'refuse'); // refuses the broadcast that follows the first replacement (cpu process 0 -> 2)
    await assert.rejects(applyPlan(processes, planReload(previous, next, { roll: true }), next, log), /worker 0 could not apply the topology/);
    assert.equal(processes.deployed(), previous);
    assert.equal(names(processes, 'cpu').length, 2, 'the pool keeps its process count');
    for (const c of processes.supervisor.list().filter((x) => x.state === 'retiring')) {
      assert.ok(world.events.some((e) => e.startsWith(`${c.spec.name} <- shutdown`)), `${c.spec.name} (pid ${String(c.pid)}) is unlisted but was never told to stop`);
    }
  });

test('a child that dies in the middle of the broadcast (channel and exit seen together, before the broadcast settles) does not fail the reload', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const next = deployed(withProcesses({ cpu: 3 }));
  world.onReconfigure.set('cpu process 0', 'die-at-once');
  await applyPlan(processes, planReload(processes.deployed(), next), next, log);
  assert.equal(processes.deployed(), next);
  world.index('cpu process 0 exited');
  await eventually('supervision restarted it and it is up', () => names(processes, 'cpu').length === 3 && allUp(processes));
  assert.equal(processes.supervisor.group('cpu').restarts, 1);
  assert.ok(!world.events.some((e) => e.includes('<- shutdown')), 'nothing was rolled back');
});


test('a child that dies in the middle of the broadcast, its channel closing before its exit is seen (node\'s order), does not fail the reload',
  { timeout: 20_000 }, async (t) => {
    const { world, processes } = await running(t);
    const next = deployed(withProcesses({ cpu: 3 }));
    world.onReconfigure.set('cpu process 0', 'die');
    await applyPlan(processes, planReload(processes.deployed(), next), next, log);
    assert.equal(processes.deployed(), next);
    await eventually('supervision restarted it and it is up', () => names(processes, 'cpu').length === 3 && allUp(processes));
  });

test('a child whose reconfigure cannot be written (EPIPE: it died a moment ago) does not fail the reload', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const next = deployed(withProcesses({ cpu: 3 }));
  world.onReconfigure.set('worker 1', 'epipe');
  await applyPlan(processes, planReload(processes.deployed(), next), next, log);
  assert.equal(processes.deployed(), next);
  await eventually('supervision restarted it and it is up', () => names(processes, FRONT).length === 2 && allUp(processes));
});

test('a child that dies in the middle of the broadcast and is already restarted when the others answer does not fail the reload', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const next = deployed(withProcesses({ cpu: 3 }));
  world.onReconfigure.set('cpu process 0', 'die-at-once');
  world.holdReplies();
  const reload = applyPlan(processes, planReload(processes.deployed(), next), next, log);
  await eventually('the child died and supervision brought it back', () => processes.supervisor.group('cpu').restarts === 1 && names(processes, 'cpu').length === 3 && allUp(processes));
  world.releaseReplies();
  await reload;
  assert.equal(processes.deployed(), next);
});

test('status loads: every running process answers stats; one that dies meanwhile is shown without its load', { timeout: 20_000 }, async (t) => {
  const { world, processes } = await running(t);
  const [victim] = world.children.filter((c) => c.name === 'worker 1');
  assert.ok(victim !== undefined);
  victim.kill('SIGKILL');
  const loads = await processes.loads();
  assert.deepStrictEqual([...loads.keys()].map((c) => c.spec.name).sort(), ['cpu process 0', 'cpu process 1', 'iso-asker process 0', 'worker 0']);
  assert.equal(processes.supervisor.pendingCalls(), 0);
  await eventually('the worker is restarted', () => names(processes, FRONT).length === 2 && allUp(processes));
});
