import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { pino, type Logger } from 'pino';
import type { ActorrtError } from '../../runtime/errors.js';
import { ChildLink, deadProcess, relayInvalidation, type ChildProcessLike, type LinkEvents, type ProcessEvents } from '../../runtime/primary/child-link.js';
import type { ChildMessage, InvalidateMessage, PrimaryMessage, ReplyMessage } from '../../runtime/protocol/messages.js';
import { PROTOCOL_VERSION } from '../../runtime/protocol/version.js';
import { VERSION } from '../../runtime/version.js';
import { eventually } from '../helpers.js';

/**
 * The primary's side of one child, against fake processes: what it sends, what it hands its owner,
 * its call table, and how it survives a child that dies while being written to.
 */

/** How a fake process takes a write: accepted, a synchronous throw (a channel already torn down), or an EPIPE reported to the callback later. */
type WriteMode = 'ok' | 'throw' | 'epipe';

const epipe = (): Error => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });

/** A forked process as ChildLink sees it: events are emitted by the test, writes and signals recorded. */
class FakeProcess extends EventEmitter implements ChildProcessLike {
  connected = true;
  mode: WriteMode = 'ok';
  /** Like node's ChildProcess.kill on EPERM: the failure is emitted as 'error', synchronously, from inside kill(). */
  killEmitsError = false;
  readonly sent: PrimaryMessage[] = [];
  readonly kills: NodeJS.Signals[] = [];
  /** Writes attempted (whatever became of them). */
  writes = 0;

  constructor(readonly pid: number | undefined) {
    super();
  }

  send(message: PrimaryMessage, done: (err: Error | null) => void): void {
    this.writes++;
    if (this.mode === 'throw') throw epipe();
    if (this.mode === 'epipe') {
      process.nextTick(done, epipe());
      return;
    }
    this.sent.push(message);
    process.nextTick(done, null);
  }

  kill(signal: NodeJS.Signals): void {
    this.kills.push(signal);
    if (this.killEmitsError) this.emit('error', Object.assign(new Error('kill EPERM'), { code: 'EPERM' }));
  }

  listen(on: ProcessEvents): void {
    // Every event with `on` (not `once`): the link itself must report one exit whatever the process emits.
    this.on('message', on.message);
    this.on('error', on.error);
    this.on('disconnect', on.disconnect);
    this.on('exit', on.exit);
    this.on('handle-ack', (received: boolean) => on.handleAck?.(received));
  }

  /** A message from the child, as it arrives over IPC (JSON). */
  says(message: unknown): void {
    this.emit('message', message === undefined ? undefined : JSON.parse(JSON.stringify(message)) as unknown);
  }

  sentOf<T extends PrimaryMessage['type']>(type: T): Array<Extract<PrimaryMessage, { type: T }>> {
    return this.sent.filter((m): m is Extract<PrimaryMessage, { type: T }> => m.type === type);
  }
}

const START: PrimaryMessage = { type: 'shutdown', timeout: 0, mode: 'stop' }; // any message: what the owner answers `booted` with
const BOOTED: ChildMessage = { type: 'booted', protocol: PROTOCOL_VERSION, version: VERSION };

/** A LinkEvents that records every call. */
function recorder(): { events: LinkEvents; seen: Array<[keyof LinkEvents, ...unknown[]]>; exits: Array<[number | null, NodeJS.Signals | null]>; failures: ActorrtError[]; unstarted: Error[] } {
  const seen: Array<[keyof LinkEvents, ...unknown[]]> = [];
  const exits: Array<[number | null, NodeJS.Signals | null]> = [];
  const failures: ActorrtError[] = [];
  const unstartedErrors: Error[] = [];
  const events: LinkEvents = {
    booted: () => {
      seen.push(['booted']);
      return START;
    },
    ready: (msg) => seen.push(['ready', msg]),
    failed: (err) => {
      seen.push(['failed', err]);
      failures.push(err);
    },
    escalated: (msg) => seen.push(['escalated', msg]),
    alive: (msg) => seen.push(['alive', msg]),
    supervised: (msg) => seen.push(['supervised', msg]),
    resource: (msg) => seen.push(['resource', msg]),
    invalidate: (msg) => seen.push(['invalidate', msg]),
    finalMetrics: (msg) => seen.push(['finalMetrics', msg]),
    handOff: (handle) => { seen.push(['handOff']); handle.close(); },
    returned: (handle) => { seen.push(['returned']); handle.close(); },
    scrape: (msg) => seen.push(['scrape', msg]),
    exit: (code, signal, unstarted) => {
      if (unstarted !== undefined) unstartedErrors.push(unstarted);
      seen.push(['exit', code, signal]);
      exits.push([code, signal]);
    },
  };
  return { events, seen, exits, failures, unstarted: unstartedErrors };
}

interface LogLine { readonly level: number; readonly msg: string; readonly code?: string; readonly child?: string; readonly [key: string]: unknown }

/** A pino logger whose lines are kept (debug and up). */
function recordingLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as LogLine); } });
  return { log, lines };
}

function linked(options: { neverRan?: boolean } = {}): { proc: FakeProcess; link: ChildLink; rec: ReturnType<typeof recorder>; lines: LogLine[] } {
  const proc = new FakeProcess(options.neverRan === true ? undefined : 4242);
  const rec = recorder();
  const { log, lines } = recordingLog();
  const link = new ChildLink(proc, 'worker 7', log, rec.events);
  return { proc, link, rec, lines };
}

/** The call the link wrote last (its id is the link's). */
function lastCall(proc: FakeProcess): { id: number } {
  const call = proc.sent.at(-1) as { id?: unknown } | undefined;
  assert.ok(call !== undefined && typeof call.id === 'number', 'a call was written');
  return { id: call.id };
}

const settled = (p: Promise<unknown>): Promise<'resolved' | 'rejected'> => p.then(() => 'resolved' as const, () => 'rejected' as const);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------

test('booted with this protocol: the start message its owner builds is sent', { timeout: 5000 }, () => {
  const { proc, rec } = linked();
  proc.says(BOOTED);
  assert.deepStrictEqual(rec.seen, [['booted']]);
  assert.deepStrictEqual(proc.sent, [START]);
  assert.deepStrictEqual(proc.kills, []);
});

test('booted with another protocol: failed gets ACTORRT_E_PROTOCOL_VERSION naming both versions, and the child is killed, not started', { timeout: 5000 }, async () => {
  const { proc, link, rec } = linked();
  const pending = settled(link.call({ type: 'stats' }, 60_000));
  proc.sent.length = 0;
  proc.says({ type: 'booted', protocol: PROTOCOL_VERSION + 1, version: '9.9.9' });
  assert.equal(rec.failures.length, 1);
  const err = rec.failures[0] as ActorrtError;
  assert.equal(err.code, 'ACTORRT_E_PROTOCOL_VERSION');
  assert.match(err.message, new RegExp(`protocol ${PROTOCOL_VERSION + 1}\\b`), 'names the child\'s protocol');
  assert.match(err.message, new RegExp(`protocol ${PROTOCOL_VERSION}\\b`), 'names the primary\'s protocol');
  assert.ok(err.message.includes('9.9.9') && err.message.includes(VERSION), `names both versions: ${err.message}`);
  assert.ok(err.hint !== undefined && err.hint.length > 0, 'says what to do');
  assert.deepStrictEqual(proc.kills, ['SIGKILL']);
  assert.deepStrictEqual(proc.sent, [], 'no start message');
  assert.ok(!rec.seen.some(([what]) => what === 'booted'));
  proc.emit('exit', null, 'SIGKILL');
  assert.equal(await pending, 'rejected');
  assert.deepStrictEqual(rec.exits, [[null, 'SIGKILL']], 'the refused child exits like any other');
});

test('booted from an older child that sends no protocol, or not a number: refused as protocol unknown', { timeout: 5000 }, () => {
  for (const booted of [{ type: 'booted', version: '0.0.1' }, { type: 'booted', protocol: String(PROTOCOL_VERSION) }, { type: 'booted', protocol: null, version: 3 }]) {
    const { proc, rec } = linked();
    proc.says(booted);
    assert.equal(rec.failures[0]?.code, 'ACTORRT_E_PROTOCOL_VERSION', JSON.stringify(booted));
    assert.match(rec.failures[0]?.message ?? '', /protocol unknown/);
    assert.deepStrictEqual(proc.kills, ['SIGKILL']);
    assert.deepStrictEqual(proc.sent, []);
  }
});

test('a message that fails its check is dropped, logged with ACTORRT_E_BAD_MESSAGE, and the link keeps working', { timeout: 5000 }, async () => {
  const { proc, link, rec, lines } = linked();
  const malformed: unknown[] = [null, 'ready', 42, [], {}, { type: 'nope' }, { type: 'ready', port: -1, pools: [] }, { type: 'reply', id: '1', ok: true },
    { type: 'alive' }, { type: 'startup-failed', code: 'ACTORRT_E_STARTUP' }, { type: 'invalidate', id: 1, keys: 'k', prefixes: [] }];
  for (const raw of malformed) proc.says(raw);
  const bad = lines.filter((l) => l.code === 'ACTORRT_E_BAD_MESSAGE');
  assert.equal(bad.length, 5, 'the first five dropped messages are logged, the rest only counted (a child cannot flood the log)');
  assert.deepEqual(bad.map((l) => l['dropped']), [1, 2, 3, 4, 5]);
  for (let i = malformed.length; i < 1000; i++) proc.says(null);
  assert.equal(lines.filter((l) => l.code === 'ACTORRT_E_BAD_MESSAGE').length, 6, 'then one line per 1000');
  assert.ok(bad.every((l) => l.child === 'worker 7' && l['childPid'] === 4242), 'naming the child');
  assert.deepStrictEqual(rec.seen, [], 'no handler saw any of them');
  assert.deepStrictEqual(proc.kills, [], 'a malformed message does not cost the child its life');

  proc.says({ type: 'ready', port: 8080, pools: ['api'] });
  assert.deepStrictEqual(rec.seen, [['ready', { type: 'ready', port: 8080, pools: ['api'] }]]);
  const reply = link.call({ type: 'stats' }, 30_000);
  proc.says({ type: 'reply', id: lastCall(proc).id, ok: true, loads: [] });
  assert.deepStrictEqual(await reply, { type: 'reply', id: lastCall(proc).id, ok: true, loads: [] });
});

test('each checked message reaches its handler (error codes revived)', { timeout: 5000 }, () => {
  const { proc, rec } = linked();
  const messages: ChildMessage[] = [
    { type: 'alive', rss: 1000 },
    { type: 'ready', port: 0, pools: [] },
    { type: 'escalate', pool: 'api', reason: 'too many' },
    { type: 'supervision', pool: 'api', event: 'actor-stop', count: 1 },
    { type: 'resource', resource: 'db', available: false, error: 'down' },
    { type: 'invalidate', id: 4, keys: ['k'], prefixes: [] },
  ];
  for (const m of messages) proc.says(m);
  proc.says({ type: 'startup-failed', code: 'ACTORRT_E_FROM_A_NEWER_BUILD', message: 'no', hint: 'h' });
  proc.says({ type: 'startup-failed', code: 'ACTORRT_E_ACTOR_INIT', message: 'init threw' });
  assert.deepStrictEqual(rec.seen.slice(0, messages.length).map(([what, msg]) => [what, msg]), [
    ['alive', messages[0]], ['ready', messages[1]], ['escalated', messages[2]], ['supervised', messages[3]], ['resource', messages[4]], ['invalidate', messages[5]],
  ]);
  assert.deepStrictEqual(rec.failures.map((e) => [e.code, e.message, e.hint]), [
    ['ACTORRT_E_INTERNAL', 'ACTORRT_E_FROM_A_NEWER_BUILD: no', 'h'],
    ['ACTORRT_E_ACTOR_INIT', 'init threw', undefined],
  ]);
});

test('call: resolves with the reply of its own id, whatever the order the replies come in; a stray reply is ignored', { timeout: 5000 }, async () => {
  const { proc, link } = linked();
  const first = link.call({ type: 'stats' }, 30_000);
  const a = lastCall(proc).id;
  const second = link.call({ type: 'invalidate', keys: ['k'], prefixes: [] }, 30_000);
  const b = lastCall(proc).id;
  assert.notEqual(a, b);
  assert.deepStrictEqual(proc.sent, [{ type: 'stats', id: a }, { type: 'invalidate', keys: ['k'], prefixes: [], id: b }]);
  assert.equal(link.pendingCalls, 2);
  proc.says({ type: 'reply', id: a + b + 100, ok: true });
  proc.says({ type: 'reply', id: b, ok: true });
  proc.says({ type: 'reply', id: a, ok: false, error: { code: 'ACTORRT_E_INTERNAL', message: 'x' } });
  assert.deepStrictEqual(await second, { type: 'reply', id: b, ok: true });
  assert.deepStrictEqual(await first, { type: 'reply', id: a, ok: false, error: { code: 'ACTORRT_E_INTERNAL', message: 'x' } });
  assert.equal(link.pendingCalls, 0);
});

test('call: rejects when the child does not answer in time, leaving no pending call; its late reply is ignored', { timeout: 5000 }, async () => {
  const { proc, link, rec } = linked();
  const call = link.call({ type: 'stats' }, 20);
  const { id } = lastCall(proc);
  await assert.rejects(call, /worker 7 did not answer within 20 ms/);
  assert.equal(link.pendingCalls, 0);
  proc.says({ type: 'reply', id, ok: true });
  assert.deepStrictEqual(rec.seen, []);
  assert.ok(link.connected, 'a slow child is not a dead one');
});

test('call: rejects at once when the child exits or its channel closes, leaving no pending call', { timeout: 5000 }, async () => {
  for (const ending of ['exit', 'disconnect'] as const) {
    const { proc, link, rec } = linked();
    const calls = [link.call({ type: 'stats' }, 60_000), link.call({ type: 'stats' }, 60_000)];
    assert.equal(link.pendingCalls, 2);
    if (ending === 'exit') proc.emit('exit', 1, null);
    else proc.emit('disconnect');
    assert.equal(link.pendingCalls, 0, `after ${ending}`);
    for (const c of calls) await assert.rejects(c, ending === 'exit' ? /worker 7 exited/ : /IPC channel closed/);
    if (ending === 'exit') {
      assert.deepStrictEqual(rec.exits, [[1, null]]);
      assert.ok(link.gone);
    }
    assert.equal(link.connected, false);
    await assert.rejects(link.call({ type: 'stats' }, 60_000), /worker 7 is not running/, 'a call to a child known gone fails at once');
    assert.equal(link.pendingCalls, 0);
  }
});

test('call: rejects at once when its write fails (thrown, or EPIPE reported later); the child is killed; no pending call left', { timeout: 5000 }, async () => {
  for (const mode of ['throw', 'epipe'] as const) {
    const { proc, link } = linked();
    const other = link.call({ type: 'stats' }, 60_000); // written fine, waiting for its reply
    proc.mode = mode;
    const call = link.call({ type: 'stats' }, 60_000);
    await assert.rejects(call, /EPIPE/, mode);
    await assert.rejects(other, /EPIPE/, `${mode}: every call of a child whose write failed`);
    assert.equal(link.pendingCalls, 0, mode);
    assert.deepStrictEqual(proc.kills, ['SIGKILL'], mode);
    assert.equal(link.connected, false, mode);
  }
});

test('send to a dead child never throws: false when it cannot be written, the child killed; nothing is written to it afterwards', { timeout: 5000 }, async () => {
  const msg: PrimaryMessage = { type: 'pool-down', pool: 'thumbs', reason: 'gave up' };

  const thrown = linked();
  thrown.proc.mode = 'throw';
  assert.equal(thrown.link.send(msg), false);
  assert.deepStrictEqual(thrown.proc.kills, ['SIGKILL']);
  assert.equal(thrown.link.send(msg), false);
  assert.equal(thrown.proc.writes, 1, 'no write to a channel known broken');

  const later = linked();
  later.proc.mode = 'epipe';
  assert.equal(later.link.send(msg), true, 'the write was handed over; it fails later');
  await eventually('the failed write is seen', () => later.proc.kills.length > 0);
  assert.deepStrictEqual(later.proc.kills, ['SIGKILL']);
  assert.equal(later.link.connected, false);
  assert.equal(later.link.send(msg), false);
  assert.equal(later.proc.writes, 1);

  const closed = linked();
  closed.proc.connected = false;
  assert.equal(closed.link.send(msg), false);
  assert.equal(closed.proc.writes, 0);

  const exited = linked();
  exited.proc.emit('exit', 0, null);
  assert.equal(exited.link.send(msg), false);
  exited.link.kill('SIGKILL');
  assert.deepStrictEqual(exited.proc.kills, [], 'an exited process is not signalled (its pid may be reused)');
});

test('kill: a process that cannot be signalled (kill throws) is not an error', { timeout: 5000 }, () => {
  const { proc, link, lines } = linked();
  proc.kill = () => { throw Object.assign(new Error('kill EINVAL'), { code: 'EINVAL' }); };
  assert.doesNotThrow(() => link.kill('SIGTERM'));
  assert.ok(lines.some((l) => l.child === 'worker 7' && l['signal'] === 'SIGTERM'));
});

test('exit is reported exactly once, after every pending call failed, even when error and exit both fire (in either order, or twice)', { timeout: 5000 }, async () => {
  const orders: ReadonlyArray<ReadonlyArray<'error' | 'exit' | 'disconnect'>> = [['error', 'exit'], ['exit', 'error'], ['disconnect', 'error', 'exit', 'exit'], ['exit', 'exit', 'disconnect']];
  for (const order of orders) {
    const { proc, link, rec } = linked();
    const call = settled(link.call({ type: 'stats' }, 60_000));
    for (const e of order) {
      if (e === 'error') proc.emit('error', epipe());
      else if (e === 'exit') proc.emit('exit', null, 'SIGKILL');
      else proc.emit('disconnect');
    }
    await tick();
    assert.deepStrictEqual(rec.exits, [[null, 'SIGKILL']], order.join(' '));
    assert.equal(await call, 'rejected');
    assert.equal(link.pendingCalls, 0);
  }
});

test('an error from a process that never ran (pid undefined) yields exactly one exit', { timeout: 5000 }, async () => {
  const dead = recorder();
  const { log, lines } = recordingLog();
  const link = new ChildLink(deadProcess(Object.assign(new Error('spawn ENOMEM'), { code: 'ENOMEM' })), 'thumbs process 3', log, dead.events);
  assert.equal(link.connected, false);
  assert.equal(link.send({ type: 'stats', id: 1 }), false);
  await assert.rejects(link.call({ type: 'stats' }, 60_000), /not running/);
  await eventually('the failed fork is reported', () => dead.exits.length > 0);
  assert.deepStrictEqual(dead.exits, [[null, null]]);
  assert.deepEqual(dead.unstarted.map((e) => e.message), ['spawn ENOMEM'], 'the exit says the process never ran, and why (the supervisor logs it)');

  // A fake that never ran, and then also reports an exit (node may emit both for a failed spawn).
  const { proc, rec } = linked({ neverRan: true });
  proc.emit('error', Object.assign(new Error('spawn ENOENT'), { code: 'ENOENT' }));
  proc.emit('exit', -2, null);
  await tick();
  assert.deepStrictEqual(rec.exits, [[null, null]]);
  assert.deepStrictEqual(proc.kills, [], 'nothing to kill');
});

test('messages that arrive after the exit are ignored', { timeout: 5000 }, () => {
  const { proc, rec } = linked();
  proc.emit('exit', 0, null);
  proc.says(BOOTED);
  proc.says({ type: 'ready', port: 0, pools: [] });
  assert.deepStrictEqual(rec.seen, [['exit', 0, null]]);
  assert.deepStrictEqual(proc.sent, []);
});

function relayParty(names: readonly string[]): { log: Logger; lines: LogLine[]; links: Array<{ proc: FakeProcess; link: ChildLink }> } {
  const { log, lines } = recordingLog();
  const links = names.map((name, i) => {
    const proc = new FakeProcess(5000 + i);
    return { proc, link: new ChildLink(proc, name, log, recorder().events) };
  });
  return { log, lines, links };
}

test('relayInvalidation asks every other running link, and resolves only once each has dropped the keys', { timeout: 10_000 }, async () => {
  const { log, links } = relayParty(['worker 0', 'worker 1', 'thumbs process 0', 'thumbs process 1', 'worker 2']);
  const [from, first, second, closed, gone] = links as [typeof links[0], typeof links[0], typeof links[0], typeof links[0], typeof links[0]];
  closed.proc.connected = false;
  gone.proc.emit('exit', 1, null);
  const inv = { keys: ['user:1'], prefixes: ['list:'], stores: ['mem'] };

  let relayed = false;
  const relay = relayInvalidation(inv, [first.link, second.link, closed.link, gone.link], 30_000, log).then(() => { relayed = true; });
  for (const other of [first, second]) {
    const sent = other.proc.sentOf('invalidate');
    assert.equal(sent.length, 1);
    const { id, ...rest } = sent[0] as InvalidateMessage;
    assert.deepStrictEqual(rest, { type: 'invalidate', keys: ['user:1'], prefixes: ['list:'], stores: ['mem'] });
    assert.equal(typeof id, 'number');
  }
  assert.equal(closed.proc.writes + gone.proc.writes, 0, 'links known gone are not asked');

  second.proc.says({ type: 'reply', id: lastCall(second.proc).id, ok: true } satisfies ReplyMessage);
  await tick();
  assert.equal(relayed, false, 'one process has not dropped the keys yet');
  assert.deepStrictEqual(from.proc.sent, [], 'the asker is not written to: the supervisor answers it');
  first.proc.says({ type: 'reply', id: lastCall(first.proc).id, ok: false, error: { code: 'ACTORRT_E_INTERNAL', message: 'store broke' } } satisfies ReplyMessage);
  await relay;
  assert.equal(relayed, true);
  assert.equal(first.link.pendingCalls + second.link.pendingCalls, 0);
});

test('relayInvalidation: a link that does not answer is not waited for past the timeout (logged), the others are', { timeout: 10_000 }, async () => {
  const { log, lines, links } = relayParty(['worker 0', 'worker 1', 'thumbs process 0']);
  const [from, answering, silent] = links as [typeof links[0], typeof links[0], typeof links[0]];
  const relay = relayInvalidation({ keys: [], prefixes: ['p'] }, [answering.link, silent.link], 50, log);
  answering.proc.says({ type: 'reply', id: lastCall(answering.proc).id, ok: true } satisfies ReplyMessage);
  await relay;
  assert.deepStrictEqual(from.proc.sent, []);
  assert.equal(silent.link.pendingCalls, 0, 'the unanswered call is gone');
  assert.ok(silent.link.connected, 'a process that is slow to confirm is not treated as dead');
  const warned = lines.filter((l) => l.level === 40);
  assert.deepStrictEqual(warned.map((l) => l.child), ['thumbs process 0'], 'only the process that did not confirm is logged');
});

test('relayInvalidation: a process that exits while asked is not waited for', { timeout: 5000 }, async () => {
  const { log } = recordingLog();
  const dying = new FakeProcess(4001);
  const dyingLink = new ChildLink(dying, 'worker 1', log, recorder().events);
  const relay = relayInvalidation({ keys: ['k'], prefixes: [] }, [dyingLink], 60_000, log);
  dying.emit('disconnect');
  await relay; // resolves: the test's own timeout would fail it otherwise
});

test('a kill that fails with an error event emitted from inside kill() (node on EPERM) is handled once, without recursion',
  { timeout: 5000 }, () => {
    const { proc, link, rec } = linked();
    proc.killEmitsError = true;
    proc.mode = 'throw';
    assert.doesNotThrow(() => link.send({ type: 'stats', id: 1 }));
    assert.ok(proc.kills.length <= 2, `kill tried ${proc.kills.length} times`);
    proc.emit('exit', null, 'SIGKILL');
    assert.deepStrictEqual(rec.exits, [[null, 'SIGKILL']]);
  });

/** A connection handle as the link sees it: records whether it was closed. */
function connection(name: string): { name: string; closed: number; close(): void } {
  return { name, closed: 0, close() { this.closed++; } };
}

test('a connection sent to a child: the primary keeps its copy until node acknowledges it, then closes it; a NACK returns it', { timeout: 5000 }, async () => {
  const { proc, link, rec } = linked();
  const returned: string[] = [];
  rec.events.returned = (h) => { returned.push((h as ReturnType<typeof connection>).name); };
  const a = connection('a');
  const b = connection('b');
  link.sendConnection({ type: 'adopt' }, a);
  link.sendConnection({ type: 'adopt' }, b);
  await tick();
  assert.equal(proc.sentOf('adopt').length, 2);
  assert.equal(a.closed + b.closed, 0, 'not closed before the child has it');
  proc.emit('handle-ack', true);
  assert.equal(a.closed, 1, 'the oldest is acknowledged first');
  assert.equal(b.closed, 0);
  proc.emit('handle-ack', false);
  assert.deepStrictEqual(returned, ['b'], 'one that arrived without its descriptor is placed again');
  assert.equal(b.closed, 0);
  proc.emit('handle-ack', true); // a stray ack changes nothing
  assert.equal(a.closed, 1);
});

test('connections a child never acknowledged come back when it exits or its channel closes, or at once when it is already gone', { timeout: 5000 }, async () => {
  for (const ending of ['exit', 'disconnect', 'epipe'] as const) {
    const { proc, link, rec } = linked();
    const returned: string[] = [];
    rec.events.returned = (h) => { returned.push((h as ReturnType<typeof connection>).name); };
    const acked = connection('acked');
    const inFlight = connection('in flight');
    const queued = connection('queued');
    link.sendConnection({ type: 'adopt' }, acked);
    proc.emit('handle-ack', true);
    link.sendConnection({ type: 'adopt' }, inFlight);
    if (ending === 'epipe') proc.mode = 'epipe';
    link.sendConnection({ type: 'adopt' }, queued);
    if (ending === 'exit') proc.emit('exit', null, 'SIGKILL');
    else if (ending === 'disconnect') proc.emit('disconnect');
    await tick();
    assert.deepStrictEqual(returned, ['in flight', 'queued'], `${ending}: every unacknowledged one, oldest first`);
    assert.equal(acked.closed, 1, `${ending}: the acknowledged one is the child's, not returned`);
    assert.equal(inFlight.closed + queued.closed, 0, `${ending}: returned connections are not closed`);
    const late = connection('late');
    link.sendConnection({ type: 'adopt' }, late);
    assert.deepStrictEqual(returned.slice(2), ['late'], `${ending}: sent to a gone child: returned at once`);
  }
});
