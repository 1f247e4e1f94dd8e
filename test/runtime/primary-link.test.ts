import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import type { Config } from '../../config/types.js';
import { loadConfig } from '../../config/validate.js';
import { decodeChildMessage } from '../../runtime/protocol/decode.js';
import { EXIT_STARTUP, type ChildMessage, type PrimaryMessage, type ReplyMessage } from '../../runtime/protocol/messages.js';
import { PROTOCOL_VERSION } from '../../runtime/protocol/version.js';
import { VERSION } from '../../runtime/version.js';
import { eventually, ROOT } from '../helpers.js';

/**
 * The child's side of the link, in a real forked process: test/fixtures/primary-link/child.mjs
 * runs serveRole from the build with handlers that record what they are given (stdout lines), and
 * this file plays the primary over the IPC channel.
 */

const FIXTURE = join(ROOT, 'test', 'fixtures', 'primary-link', 'child.mjs');
const CONFIG: Config = loadConfig(join(ROOT, 'test', 'fixtures', 'runtime', 'actorrt.yml'));
const withFile = (file: string): Config => ({ ...CONFIG, file });

interface Record_ { readonly what: string; readonly [key: string]: unknown }
interface LogLine { readonly level: number; readonly code?: string; readonly msg: string; readonly [key: string]: unknown }

interface Child {
  readonly proc: ChildProcess;
  /** Every message from the child, as it came. */
  readonly messages: unknown[];
  /** What its handlers recorded. */
  readonly records: Record_[];
  /** Its JSON log lines (stderr). */
  readonly logs: LogLine[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  send(message: unknown): void;
  /** A line on the fixture's stdin (see the fixture). */
  command(line: string): void;
  /** The next message of `type` after the first `skip` of that type; waits for it. */
  message<T extends ChildMessage['type']>(type: T, skip?: number): Promise<Extract<ChildMessage, { type: T }>>;
  replyTo(id: number): Promise<ReplyMessage>;
}

/** Fork the fixture; whatever happens, it is killed and reaped at the end of the test. */
function forkChild(t: TestContext, role: 'start' | 'start-pool' = 'start'): Child {
  const proc = fork(FIXTURE, [role], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ACTORRT_LOG_LEVEL: 'info' } });
  const messages: unknown[] = [];
  const records: Record_[] = [];
  const logs: LogLine[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  proc.on('message', (m: unknown) => messages.push(m));
  proc.on('error', () => undefined); // a write to a child that has exited (the tests that make it exit)
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => records.push(JSON.parse(line) as Record_));
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ level: 60, msg: line });
    }
  });
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const decoded = (): ChildMessage[] => messages.map((m) => decodeChildMessage(m));
  const child: Child = {
    proc, messages, records, logs, exited,
    send: (message) => { proc.send(message as PrimaryMessage); },
    command: (line) => { proc.stdin?.write(`${line}\n`); },
    async message(type, skip = 0) {
      let found: ChildMessage | undefined;
      await eventually(`a ${type} message from the child`, () => {
        found = decoded().filter((m) => m.type === type)[skip];
        return found !== undefined;
      });
      return found as Extract<ChildMessage, { type: typeof type }>;
    },
    async replyTo(id) {
      let found: ReplyMessage | undefined;
      await eventually(`the reply to call ${id}`, () => {
        found = decoded().find((m): m is ReplyMessage => m.type === 'reply' && m.id === id);
        return found !== undefined;
      });
      return found as ReplyMessage;
    },
  };
  return child;
}

/** Fork the fixture and start it (its ready seen). */
async function started(t: TestContext, role: 'start' | 'start-pool' = 'start'): Promise<Child> {
  const child = forkChild(t, role);
  await child.message('booted');
  child.send(startMessage(role));
  await child.message('ready');
  return child;
}

function startMessage(role: 'start' | 'start-pool', protocol = PROTOCOL_VERSION, config: Config = CONFIG): PrimaryMessage {
  return role === 'start'
    ? { type: 'start', protocol, config, workerIndex: 0, listenFd: 4, boardSlot: 0, endpoints: {}, socket: '/nowhere/~front.0.sock', down: {} }
    : { type: 'start-pool', protocol, config, pool: 'echo', index: 0, socket: '/nowhere/echo.0.sock', endpoints: {}, down: {} };
}

const reconfigure = (id: number, file = CONFIG.file): PrimaryMessage => ({ type: 'reconfigure', id, config: withFile(file), endpoints: { echo: ['/s'] }, down: {} });
const recorded = (child: Child, what: string): Record_[] => child.records.filter((r) => r.what === what);

// ---------------------------------------------------------------------------------------------

test('a child sends booted first, with this protocol version and its actorrt version', { timeout: 20_000 }, async (t) => {
  const child = forkChild(t);
  const booted = await child.message('booted');
  assert.deepStrictEqual(booted, { type: 'booted', protocol: PROTOCOL_VERSION, version: VERSION });
  assert.deepStrictEqual(child.messages[0], booted, 'before anything else');
  assert.deepStrictEqual(child.records, [], 'nothing started before the start message');
});

for (const role of ['start', 'start-pool'] as const) {
  test(`${role}: a start message of another protocol is answered with startup-failed ACTORRT_E_PROTOCOL_VERSION naming both, and exit code ${EXIT_STARTUP}`, { timeout: 20_000 }, async (t) => {
    const child = forkChild(t, role);
    await child.message('booted');
    child.send(startMessage(role, PROTOCOL_VERSION + 1));
    const failed = await child.message('startup-failed');
    assert.equal(failed.code, 'ACTORRT_E_PROTOCOL_VERSION');
    assert.match(failed.message, new RegExp(`speaks protocol ${PROTOCOL_VERSION}\\b`));
    assert.match(failed.message, new RegExp(`primary speaks protocol ${PROTOCOL_VERSION + 1}\\b`));
    assert.ok(failed.message.includes(VERSION));
    assert.ok(failed.hint !== undefined && failed.hint.length > 0);
    assert.deepStrictEqual(await child.exited, { code: EXIT_STARTUP, signal: null });
    assert.deepStrictEqual(recorded(child, 'start'), [], 'the start handler never ran');
  });

  test(`${role}: its start message reaches the start handler once; a second one, or the other role's, is dropped`, { timeout: 20_000 }, async (t) => {
    const child = await started(t, role);
    assert.deepStrictEqual(recorded(child, 'start'), [{ what: 'start', type: role, protocol: PROTOCOL_VERSION }]);
    child.send(startMessage(role));
    child.send(startMessage(role === 'start' ? 'start-pool' : 'start'));
    await eventually('both dropped starts are logged', () => child.logs.filter((l) => l.code === 'ACTORRT_E_BAD_MESSAGE').length === 2);
    child.send({ type: 'stats', id: 5 });
    assert.equal((await child.replyTo(5)).ok, true);
    assert.equal(recorded(child, 'start').length, 1);
    assert.equal(child.messages.filter((m) => (m as { type?: unknown }).type === 'ready').length, 1);
  });
}

test('a start handler that throws: startup-failed ACTORRT_E_STARTUP with its message, then exit code 78', { timeout: 20_000 }, async (t) => {
  const child = forkChild(t);
  await child.message('booted');
  child.send(startMessage('start', PROTOCOL_VERSION, withFile('/fail-start')));
  const failed = await child.message('startup-failed');
  assert.equal(failed.code, 'ACTORRT_E_STARTUP');
  assert.match(failed.message, /the actor module could not be loaded/);
  assert.deepStrictEqual(await child.exited, { code: EXIT_STARTUP, signal: null });
});

test('malformed messages are dropped (logged with ACTORRT_E_BAD_MESSAGE) and the child keeps answering stats', { timeout: 20_000 }, async (t) => {
  const child = await started(t);
  const malformed: unknown[] = [
    null, 'stats', 7, [], {}, { type: 'nope' }, { type: 'stats' }, { type: 'stats', id: -1 }, { type: 'stats', id: '1' },
    { type: 'reconfigure', id: 1, config: {}, endpoints: {}, down: {} }, { type: 'shutdown', timeout: -5, mode: 'stop' }, { type: 'shutdown', timeout: 1, mode: 'now' },
    { type: 'invalidate', id: 1, keys: [1], prefixes: [] }, { type: 'pool-down', pool: 'x' },
  ];
  for (const raw of malformed) child.send(raw);
  child.send({ type: 'stats', id: 7 });
  assert.deepStrictEqual(await child.replyTo(7), { type: 'reply', id: 7, ok: true, loads: [{ pool: 'echo', actors: 2, depth: 1, busy: 1, completed: 5, inflightSeconds: 0.5, busySeconds: 0.5 }], caches: { stores: [], routes: [] } });
  child.send({ type: 'stats', id: 8, metrics: true });
  assert.deepStrictEqual(await child.replyTo(8), {
    type: 'reply', id: 8, ok: true, loads: [{ pool: 'echo', actors: 2, depth: 1, busy: 1, completed: 5, inflightSeconds: 0.5, busySeconds: 0.5 }], caches: { stores: [], routes: [] },
    metrics: { actorrt_pool_requests_in_flight: [{ labels: ['echo'], value: 1 }] },
  }, 'a scrape gets the counts with the same loads');
  await eventually('every malformed message is logged', () => child.logs.filter((l) => l.code === 'ACTORRT_E_BAD_MESSAGE').length === malformed.length);
  assert.deepStrictEqual(child.records.map((r) => r.what), ['start'], 'no handler saw any of them');
  assert.ok(child.proc.exitCode === null && child.proc.signalCode === null, 'still running');
  child.send({ type: 'stats', id: 8 });
  assert.equal((await child.replyTo(8)).ok, true);
});

test('reconfigure messages are applied one at a time, in order, and replied in order, whichever finishes first', { timeout: 20_000 }, async (t) => {
  const child = await started(t);
  child.send(reconfigure(1, '/gated'));
  child.send(reconfigure(2, '/gated'));
  child.send(reconfigure(3));
  await eventually('the first reconfigure is being applied', () => recorded(child, 'reconfigure-begin').length === 1);
  child.command('release 2'); // the second may finish at once, but only after the first
  child.send({ type: 'stats', id: 50 });
  await child.replyTo(50); // the child is not blocked: stats answers while a reconfigure waits
  assert.deepStrictEqual(recorded(child, 'reconfigure-begin').map((r) => r['id']), [1], 'the second waits for the first');
  child.command('release 1');
  const replies = await Promise.all([1, 2, 3].map((id) => child.replyTo(id)));
  assert.deepStrictEqual(replies, [1, 2, 3].map((id) => ({ type: 'reply', id, ok: true })));
  const order = child.records.filter((r) => r.what.startsWith('reconfigure-')).map((r) => `${r.what.slice('reconfigure-'.length)} ${String(r['id'])}`);
  assert.deepStrictEqual(order, ['begin 1', 'end 1', 'begin 2', 'end 2', 'begin 3', 'end 3']);
  const replyOrder = child.messages.filter((m): m is ReplyMessage => (m as { type?: unknown }).type === 'reply' && (m as ReplyMessage).id <= 3).map((m) => m.id);
  assert.deepStrictEqual(replyOrder, [1, 2, 3]);
});

test('a reconfigure that fails is replied ok: false with its code (ACTORRT_E_INTERNAL for a plain error), and the next one is still applied', { timeout: 20_000 }, async (t) => {
  const child = await started(t);
  child.send(reconfigure(1, '/fail'));
  child.send(reconfigure(2, '/fail-coded'));
  child.send(reconfigure(3));
  assert.deepStrictEqual(await child.replyTo(1), { type: 'reply', id: 1, ok: false, error: { code: 'ACTORRT_E_INTERNAL', message: 'could not resize' } });
  assert.deepStrictEqual(await child.replyTo(2), { type: 'reply', id: 2, ok: false, error: { code: 'ACTORRT_E_CONFIG_INVALID', message: 'refused here' } });
  assert.deepStrictEqual(await child.replyTo(3), { type: 'reply', id: 3, ok: true });
});

test('invalidate, pool-down and shutdown messages reach their handlers; an invalidate is replied', { timeout: 20_000 }, async (t) => {
  const child = await started(t, 'start-pool');
  child.send({ type: 'invalidate', id: 12, keys: ['user:1'], prefixes: ['list:'], stores: ['mem'] });
  assert.deepStrictEqual(await child.replyTo(12), { type: 'reply', id: 12, ok: true });
  assert.deepStrictEqual(recorded(child, 'invalidate'), [{ what: 'invalidate', inv: { keys: ['user:1'], prefixes: ['list:'], stores: ['mem'] } }]);
  child.send({ type: 'pool-down', pool: 'cpu', reason: 'gave up' });
  child.send({ type: 'shutdown', timeout: 2500, mode: 'retire' });
  assert.deepStrictEqual(await child.exited, { code: 0, signal: null });
  assert.deepStrictEqual(child.records.slice(-2), [{ what: 'pool-down', pool: 'cpu', reason: 'gave up' }, { what: 'shutdown', timeout: 2500, mode: 'retire' }]);
});

test('invalidateElsewhere asks the primary with an id and resolves when the primary answers invalidated with that id', { timeout: 20_000 }, async (t) => {
  const child = await started(t);
  child.command('invalidate user:9');
  const asked = await child.message('invalidate');
  assert.deepStrictEqual({ ...asked, id: 0 }, { type: 'invalidate', id: 0, keys: ['user:9'], prefixes: [] });
  child.send({ type: 'invalidated', id: asked.id + 1000 }); // another id: not this one
  child.send({ type: 'stats', id: 1 });
  await child.replyTo(1);
  assert.deepStrictEqual(recorded(child, 'invalidated-elsewhere'), []);
  child.send({ type: 'invalidated', id: asked.id });
  await eventually('invalidateElsewhere resolved', () => recorded(child, 'invalidated-elsewhere').length === 1);
});

test('the primary going away (IPC disconnect) drains the child: shutdown(stop)', { timeout: 20_000 }, async (t) => {
  const child = await started(t);
  child.proc.disconnect();
  assert.deepStrictEqual(await child.exited, { code: 0, signal: null });
  assert.deepStrictEqual(recorded(child, 'shutdown'), [{ what: 'shutdown', timeout: 10_000, mode: 'stop' }]);
});

test('SIGTERM and SIGINT are ignored (the primary coordinates the drain)', { timeout: 20_000 }, async (t) => {
  const child = await started(t);
  child.proc.kill('SIGTERM');
  child.proc.kill('SIGINT');
  child.send({ type: 'stats', id: 3 });
  assert.equal((await child.replyTo(3)).ok, true);
  assert.ok(child.proc.exitCode === null && child.proc.signalCode === null);
});
