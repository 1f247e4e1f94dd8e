import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { ActorRequest } from '../../actors/index.js';
import { Channel } from '../../runtime/channel/channel.js';
import { serveEndpoint, type Dispatcher } from '../../runtime/channel/endpoint.js';
import { decodeFrame, encodeFrame, FrameReader, MAX_FRAME_BYTES } from '../../runtime/channel/frames.js';
import { ActorrtError, type ErrorCode } from '../../runtime/errors.js';
import type { Logger } from '../../runtime/logger.js';
import { eventually } from '../helpers.js';
import { childTrace } from '../../runtime/trace/trace-context.js';

/** Log lines as objects, to assert that an error was logged (by level, not wording). */
function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, lines };
}
const errorsIn = (lines: ReadonlyArray<Record<string, unknown>>): number => lines.filter((l) => l['level'] === 50).length;

/** A socket path in a fresh temp folder, removed after the test. */
function socketPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-channel-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'pool.sock');
}

/** A channel to `path`, closed after the test. */
function openChannel(t: TestContext, path: string, log: Logger = pino({ level: 'silent' })): Channel {
  const channel = new Channel(path, log);
  t.after(() => channel.close());
  return channel;
}

function ask(body: unknown, requestId = 'r1'): ActorRequest {
  return { method: 'POST', path: '/x', params: { id: '1' }, query: { q: ['a', 'b'] }, headers: { 'content-type': 'application/json' }, body, requestId, ip: '127.0.0.1', protocol: 'http', trace: childTrace(undefined) };
}

/** `fields` in an object without a prototype, as a decoded request's params, query and headers are. */
function bare<T extends object>(fields: T): T {
  return Object.assign(Object.create(null) as T, fields);
}

/** Assert that `promise` rejects with an ActorrtError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, what: string = code): Promise<ActorrtError> {
  let caught: unknown;
  await promise.then(() => assert.fail(`${what}: resolved, expected ${code}`), (err: unknown) => { caught = err; });
  assert.ok(caught instanceof ActorrtError, `${what}: rejected with ${String(caught)}`);
  assert.equal(caught.code, code, what);
  return caught;
}

interface Received { readonly socket: Socket; readonly message: Record<string, unknown>; readonly binary: Buffer | undefined }

/**
 * The other end of a channel, played by the test: it records every request frame it receives and
 * answers (or not) with whatever bytes `onRequest` writes, as a broken or dying process might.
 */
class FakePeer {
  readonly received: Received[] = [];
  readonly sockets = new Set<Socket>();
  connections = 0;
  private waiters: Array<() => void> = [];

  private constructor(private readonly server: Server) {}

  static async listen(t: TestContext, path: string, onRequest: (r: Received) => void = () => {}): Promise<FakePeer> {
    let peer: FakePeer | undefined;
    const server = createServer((socket) => {
      const p = peer as FakePeer;
      p.connections += 1;
      p.sockets.add(socket);
      socket.once('close', () => p.sockets.delete(socket));
      socket.on('error', () => {});
      const reader = new FrameReader();
      socket.on('data', (chunk: Buffer) => {
        for (const payload of reader.push(chunk)) {
          const { message, binary } = decodeFrame(payload);
          const r = { socket, message: message as Record<string, unknown>, binary };
          p.received.push(r);
          onRequest(r);
          for (const wake of p.waiters.splice(0)) wake();
        }
      });
    });
    peer = new FakePeer(server);
    server.listen(path);
    await once(server, 'listening');
    t.after(() => peer.stop());
    return peer;
  }

  /** Resolves once `n` requests have arrived in all. */
  async receivedAtLeast(n: number): Promise<void> {
    while (this.received.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Exit as a process does: stop listening and drop every connection. */
  stop(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

const reply = (r: Received, frame: Record<string, unknown>, binary?: Buffer): void => {
  r.socket.write(encodeFrame({ t: 'res', id: r.message['id'], ...frame }, binary));
};

test('round-trips requests through an endpoint, many in flight at once on one connection, matched by id', async (t) => {
  const path = socketPath(t);
  const seen: Array<{ req: ActorRequest; timeout: number }> = [];
  const echo: Dispatcher = { dispatch: async (req, timeout) => { seen.push({ req, timeout }); return { status: 200, body: req.body }; } };
  const endpoint = await serveEndpoint(path, (name) => (name === 'echo' ? echo : undefined), pino({ level: 'silent' }));
  t.after(() => endpoint.close(1000));
  const channel = openChannel(t, path);
  await channel.whenConnected();
  assert.equal(channel.connected, true);

  const requests = Array.from({ length: 50 }, (_, i) => ask({ n: i }, `r${i}`));
  const replies = await Promise.all(requests.map((r) => channel.request('echo', r, 1000)));
  assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => ({ status: 200, body: { n: i } })));
  // As an actor gets it: params, query and headers without a prototype (wire.ts), as inline actors get them.
  const sent = requests[7] ?? assert.fail('no request 7');
  const { trace, ...fields } = seen[7]?.req ?? assert.fail('no request 7');
  const { trace: sentTrace, ...sentFields } = sent;
  assert.deepEqual({ req: fields, timeout: seen[7]?.timeout }, { req: { ...sentFields, params: bare(sent.params), query: bare(sent.query), headers: bare(sent.headers) }, timeout: 1000 });
  // The pool side's span is a child of the sender's, in its trace.
  assert.deepEqual([trace.traceId, trace.parentSpanId, trace.sampled], [sentTrace.traceId, sentTrace.spanId, sentTrace.sampled]);
  assert.notEqual(trace.spanId, sentTrace.spanId);
  assert.equal(channel.inflight, 0);
});

test('carries binary bodies both ways: a Buffer request body arrives as a Buffer, a Buffer reply body and a Buffer reply come back as Buffers', async (t) => {
  const path = socketPath(t);
  const bytes = Buffer.from([0, 1, 2, 127, 128, 255]);
  let body: unknown;
  const pools: Record<string, Dispatcher> = {
    echo: { dispatch: async (req) => { body = req.body; return { status: 201, headers: { 'content-type': 'image/png' }, body: req.body }; } },
    raw: { dispatch: async () => bytes },
  };
  const endpoint = await serveEndpoint(path, (name) => pools[name], pino({ level: 'silent' }));
  t.after(() => endpoint.close(1000));
  const channel = openChannel(t, path);
  await channel.whenConnected();

  const echoed = await channel.request('echo', ask(bytes), 1000) as { status: number; headers: unknown; body: unknown };
  assert.ok(Buffer.isBuffer(body));
  assert.deepEqual(body, bytes);
  assert.equal(echoed.status, 201);
  assert.deepEqual(echoed.headers, { 'content-type': 'image/png' });
  assert.ok(Buffer.isBuffer(echoed.body));
  assert.deepEqual(echoed.body, bytes);

  const raw = await channel.request('raw', ask(undefined), 1000);
  assert.ok(Buffer.isBuffer(raw));
  assert.deepEqual(raw, bytes);

  const empty = await channel.request('echo', ask(Buffer.alloc(0)), 1000) as { body: unknown };
  assert.ok(Buffer.isBuffer(empty.body));
  assert.equal((empty.body as Buffer).length, 0);
});

test('an error reply is revived as the same coded error; a pool the peer does not run is ACTORRT_E_UNKNOWN_POOL; a code this build does not know is ACTORRT_E_INTERNAL', async (t) => {
  const path = socketPath(t);
  const failing: Dispatcher = { dispatch: () => Promise.reject(new ActorrtError('ACTORRT_E_MAILBOX_FULL', 'every actor is busy')) };
  const endpoint = await serveEndpoint(path, (name) => (name === 'busy' ? failing : undefined), pino({ level: 'silent' }));
  t.after(() => endpoint.close(1000));
  const channel = openChannel(t, path);
  await channel.whenConnected();
  const busy = await rejectsWith(channel.request('busy', ask(null), 1000), 'ACTORRT_E_MAILBOX_FULL');
  assert.equal(busy.message, 'every actor is busy');
  assert.equal(busy.status, 503);
  await rejectsWith(channel.request('elsewhere', ask(null), 1000), 'ACTORRT_E_UNKNOWN_POOL');

  const foreignPath = socketPath(t);
  await FakePeer.listen(t, foreignPath, (r) => reply(r, { ok: false, code: 'ACTORRT_E_FROM_THE_FUTURE', message: 'new failure' }));
  const foreign = openChannel(t, foreignPath);
  await foreign.whenConnected();
  const err = await rejectsWith(foreign.request('p', ask(null), 1000), 'ACTORRT_E_INTERNAL');
  assert.match(err.message, /ACTORRT_E_FROM_THE_FUTURE/);
});

/** Reply frames (the id filled in) each wrong in one field. */
const badReplies: ReadonlyArray<[string, Record<string, unknown>, Buffer?]> = [
  ['t is missing', { t: undefined, ok: true, value: 1 }],
  ['t is a request', { t: 'req', ok: true, value: 1 }],
  ['ok is missing', { value: 1 }],
  ['ok is text', { ok: 'yes', value: 1 }],
  ['an error without a code', { ok: false, message: 'm' }],
  ['an error with a numeric code', { ok: false, code: 500, message: 'm' }],
  ['an error without a message', { ok: false, code: 'ACTORRT_E_TIMEOUT' }],
  ['an error with a binary tail', { ok: false, code: 'ACTORRT_E_TIMEOUT', message: 'm' }, Buffer.from('x')],
  ['a binary tail without bin', { ok: true, value: 1 }, Buffer.from('x')],
  ['bin "value" with a JSON value too', { ok: true, value: { a: 1 }, bin: 'value' }, Buffer.from('x')],
  ['bin "body" with a value that is not an object', { ok: true, value: 'text', bin: 'body' }, Buffer.from('x')],
  ['bin "body" with a JSON body too', { ok: true, value: { body: 'b' }, bin: 'body' }, Buffer.from('x')],
  ['bin of another kind', { ok: true, value: null, bin: 'tail' }, Buffer.from('x')],
];

test('a malformed reply whose id is readable fails that request with ACTORRT_E_BAD_FRAME; the connection and the other requests go on', async (t) => {
  const path = socketPath(t);
  const { log, lines } = capturingLogger();
  const peer = await FakePeer.listen(t, path, (r) => {
    const body = (r.message['req'] as { body: { case: number } }).body;
    const bad = badReplies[body.case];
    if (bad === undefined) reply(r, { ok: true, value: { fine: true } });
    else reply(r, bad[1], bad[2]);
  });
  const channel = openChannel(t, path, log);
  await channel.whenConnected();
  for (const [i, [what]] of badReplies.entries()) await rejectsWith(channel.request('p', ask({ case: i }), 1000), 'ACTORRT_E_BAD_FRAME', what);
  assert.equal(errorsIn(lines), badReplies.length);
  assert.deepEqual(await channel.request('p', ask({ case: -1 }), 1000), { fine: true });
  assert.equal(peer.connections, 1);
  assert.equal(channel.inflight, 0);
});

/** Bytes that cannot be matched to any request: the connection has to go. */
const unreadable: ReadonlyArray<[string, (socket: Socket) => void]> = [
  ['no id', (s) => s.write(encodeFrame({ t: 'res', ok: true, value: 1 }))],
  ['a negative id', (s) => s.write(encodeFrame({ t: 'res', id: -1, ok: true, value: 1 }))],
  ['an id as text', (s) => s.write(encodeFrame({ t: 'res', id: '1', ok: true, value: 1 }))],
  ['not an object', (s) => s.write(encodeFrame('res'))],
  ['not JSON', (s) => s.write(Buffer.from([0, 0, 0, 6, 0, 0, 0, 2, 0x7b, 0x7b]))],
  ['a JSON length past its end', (s) => s.write(Buffer.from([0, 0, 0, 6, 0, 0, 1, 0, 0x7b, 0x7d]))],
  ['a length past the frame limit', (s) => { const b = Buffer.alloc(4); b.writeUInt32BE(MAX_FRAME_BYTES + 1, 0); s.write(b); }],
];

test('a reply that names no readable request, is not JSON or is oversized closes the connection: what was in flight fails with ACTORRT_E_BAD_FRAME, is never retried, and the channel reconnects', async (t) => {
  const path = socketPath(t);
  const { log, lines } = capturingLogger();
  let garbage: ((socket: Socket) => void) | undefined;
  // The peer answers the second request of each pair with garbage, so two are in flight when it does.
  const peer = await FakePeer.listen(t, path, (r) => { if (r.message['id'] !== undefined && peer.received.length % 2 === 0) garbage?.(r.socket); });
  const channel = openChannel(t, path, log);
  for (const [i, [what, send]] of unreadable.entries()) {
    await eventually(`connection ${i + 1}`, () => channel.connected && peer.connections === i + 1);
    garbage = send;
    const before = errorsIn(lines);
    const first = channel.request('p', ask({ n: 1 }), 60_000);
    const second = channel.request('p', ask({ n: 2 }), 60_000);
    await rejectsWith(first, 'ACTORRT_E_BAD_FRAME', what);
    await rejectsWith(second, 'ACTORRT_E_BAD_FRAME', what);
    assert.equal(errorsIn(lines), before + 1, what);
    assert.equal(channel.inflight, 0);
  }
  await eventually('reconnected', () => channel.connected && peer.connections === unreadable.length + 1);
  // Every request reached the peer exactly once: nothing was sent again on the new connections.
  assert.equal(peer.received.length, 2 * unreadable.length);
  assert.equal(new Set(peer.received.map((r) => r.message['id'])).size, peer.received.length);
});

test('a peer that dies with requests in flight fails them with ACTORRT_E_ACTOR_CRASHED (not a hang, not a retry); the channel reconnects once the peer is back', async (t) => {
  const path = socketPath(t);
  const first = await FakePeer.listen(t, path);
  const channel = openChannel(t, path);
  await channel.whenConnected();
  const inFlight = [1, 2, 3].map((n) => channel.request('p', ask({ n }), 60_000));
  await first.receivedAtLeast(3);
  first.stop();
  for (const p of inFlight) await rejectsWith(p, 'ACTORRT_E_ACTOR_CRASHED');
  assert.equal(channel.inflight, 0);
  await eventually('disconnected', () => !channel.connected);
  await rejectsWith(channel.request('p', ask(null), 1000), 'ACTORRT_E_POOL_DOWN');

  const second = await FakePeer.listen(t, path, (r) => reply(r, { ok: true, value: 'back' }));
  channel.reconnectNow();
  await eventually('reconnected', () => channel.connected);
  assert.equal(await channel.request('p', ask(null), 1000), 'back');
  assert.equal(second.received.length, 1, 'the requests that failed were not sent again');
  assert.equal(first.received.length, 3);
});

test('a request with nothing listening fails at once with ACTORRT_E_POOL_DOWN', async (t) => {
  const channel = openChannel(t, socketPath(t));
  assert.equal(channel.connected, false);
  await rejectsWith(channel.request('p', ask(null), 1000), 'ACTORRT_E_POOL_DOWN');
});

test('a request the peer does not answer in time fails with ACTORRT_E_TIMEOUT; its late reply is dropped', async (t) => {
  const path = socketPath(t);
  const held: Received[] = [];
  const peer = await FakePeer.listen(t, path, (r) => { if ((r.message['req'] as { body: unknown }).body === 'hold') held.push(r); else reply(r, { ok: true, value: 'now' }); });
  const channel = openChannel(t, path);
  await channel.whenConnected();
  await rejectsWith(channel.request('p', ask('hold'), 20), 'ACTORRT_E_TIMEOUT');
  assert.equal(channel.inflight, 0);
  reply(held[0] as Received, { ok: true, value: 'late' });
  assert.equal(await channel.request('p', ask('go'), 1000), 'now');
  assert.equal(peer.connections, 1);
});

test('refuses, before sending, a timeout that is not a positive number and a request past the frame limit', async (t) => {
  const path = socketPath(t);
  const peer = await FakePeer.listen(t, path);
  const channel = openChannel(t, path);
  await channel.whenConnected();
  for (const timeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    await rejectsWith(channel.request('p', ask(null), timeout), 'ACTORRT_E_BAD_ARGUMENT', String(timeout));
  }
  await rejectsWith(channel.request('p', ask(Buffer.alloc(MAX_FRAME_BYTES)), 1000), 'ACTORRT_E_BODY_TOO_LARGE');
  assert.equal(channel.inflight, 0);
  assert.equal(peer.received.length, 0);
});

test('closeWhenIdle() lets the requests in flight be answered, then closes, which the peer sees', async (t) => {
  const path = socketPath(t);
  const held: Received[] = [];
  const peer = await FakePeer.listen(t, path, (r) => held.push(r));
  const channel = openChannel(t, path);
  await channel.whenConnected();
  const pending = channel.request('p', ask(null), 60_000);
  await peer.receivedAtLeast(1);
  const [socket] = peer.sockets;
  const peerSawClose = once(socket as Socket, 'close');
  const closing = channel.closeWhenIdle(60_000);
  reply(held[0] as Received, { ok: true, value: 'done' });
  assert.equal(await pending, 'done');
  await closing;
  await peerSawClose;
  assert.equal(channel.connected, false);
});
