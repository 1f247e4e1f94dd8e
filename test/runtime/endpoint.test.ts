import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { ActorRequest } from '../../actors/index.js';
import { encodeFrame, decodeFrame, FrameReader, MAX_FRAME_BYTES } from '../../runtime/channel/frames.js';
import { serveEndpoint, type Dispatcher, type Endpoint } from '../../runtime/channel/endpoint.js';
import { ActorrtError } from '../../runtime/errors.js';
import type { Logger } from '../../runtime/logger.js';

/** Log lines as objects, to assert that an error was logged (by level and fields, not wording). */
function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
  return { log, lines };
}
const errorsIn = (lines: ReadonlyArray<Record<string, unknown>>): number => lines.filter((l) => l['level'] === 50).length;

interface Call { readonly pool: string; readonly req: ActorRequest; readonly timeout: number }

/** A dispatcher that records what it was asked and answers with `answer(req)`. */
function recorder(pool: string, calls: Call[], answer: (req: ActorRequest) => Promise<unknown> = (req) => Promise.resolve({ status: 200, body: req.body })): Dispatcher {
  return { dispatch: (req, timeout) => { calls.push({ pool, req, timeout }); return answer(req); } };
}

/** An endpoint on a socket in a temp folder, serving `pools`; everything is stopped and removed after the test. */
async function startEndpoint(t: TestContext, pools: Readonly<Record<string, Dispatcher>>): Promise<{ path: string; endpoint: Endpoint; lines: Array<Record<string, unknown>> }> {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-endpoint-'));
  const path = join(dir, 'pool.sock');
  const { log, lines } = capturingLogger();
  const endpoint = await serveEndpoint(path, (name) => pools[name], log);
  t.after(async () => {
    await endpoint.close(1000);
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, endpoint, lines };
}

interface Frame { readonly message: Record<string, unknown>; readonly binary: Buffer | undefined }

/** A peer speaking raw frames (or raw bytes) to the endpoint, as a channel or a broken process would. */
class RawPeer {
  private readonly reader = new FrameReader();
  private readonly frames = new Map<number, Frame>();
  private readonly waiting = new Map<number, (frame: Frame) => void>();
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const payload of this.reader.push(chunk)) {
        const { message, binary } = decodeFrame(payload);
        const frame = { message: message as Record<string, unknown>, binary };
        const id = frame.message['id'] as number;
        const waiter = this.waiting.get(id);
        if (waiter === undefined) this.frames.set(id, frame);
        else waiter(frame);
      }
    });
    this.closed = once(socket, 'close').then(() => undefined);
  }

  static async connect(t: TestContext, path: string): Promise<RawPeer> {
    const socket = connect(path);
    t.after(() => { socket.destroy(); });
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  send(message: unknown, binary?: Buffer): void {
    this.socket.write(encodeFrame(message, binary));
  }

  /** Bytes as they are, framed by a length prefix (a payload that need not be a frame). */
  sendPayload(payload: Buffer): void {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(payload.length, 0);
    this.socket.write(Buffer.concat([length, payload]));
  }

  /** The reply frame for request `id`, once it arrives. */
  reply(id: number): Promise<Frame> {
    const frame = this.frames.get(id);
    if (frame !== undefined) return Promise.resolve(frame);
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
}

/** `fields` in an object without a prototype, as the endpoint hands an actor its params, query and headers. */
const bare = <T extends object>(fields: T): T => Object.assign(Object.create(null) as T, fields);

const request = (id: number, over: Record<string, unknown> = {}, req: Record<string, unknown> = {}): Record<string, unknown> => ({
  t: 'req', id, pool: 'echo', timeout: 1000, tp: `00-0af7651916cd43dd8448eb211c80319c-${String(id).padStart(16, '0')}-01`,
  req: { method: 'POST', path: '/echo', params: { id: '7' }, query: { tag: ['a', 'b'], q: 'x' }, headers: { 'content-type': 'application/json', accept: ['a', 'b'] }, requestId: `r${id}`, body: { n: id }, ip: '::1', protocol: 'https', ...req },
  ...over,
});

test('answers requests with what the pool returned, matched by id, the request arriving as the actor sees it', async (t) => {
  const calls: Call[] = [];
  const { path } = await startEndpoint(t, { echo: recorder('echo', calls) });
  const peer = await RawPeer.connect(t, path);
  peer.send(request(1));
  peer.send(request(2, { timeout: 250 }, { method: 'GET', body: undefined }));
  assert.deepEqual((await peer.reply(2)).message, { t: 'res', id: 2, ok: true, value: { status: 200 } });
  assert.deepEqual((await peer.reply(1)).message, { t: 'res', id: 1, ok: true, value: { status: 200, body: { n: 1 } } });
  const { trace, ...fields } = calls[0]?.req ?? assert.fail('no call');
  assert.deepEqual({ ...calls[0], req: fields }, {
    pool: 'echo', timeout: 1000,
    req: {
      method: 'POST', path: '/echo', params: bare({ id: '7' }), query: bare({ tag: ['a', 'b'], q: 'x' }),
      headers: bare({ 'content-type': 'application/json', accept: ['a', 'b'] }), body: { n: 1 }, requestId: 'r1', ip: '::1', protocol: 'https',
    },
  });
  // The actor's span is a child of the caller's (the frame's tp), in the same trace.
  assert.equal(trace.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(trace.parentSpanId, '0000000000000001');
  assert.match(trace.spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(trace.spanId, trace.parentSpanId);
  assert.equal(trace.sampled, true);
  assert.equal(trace.traceparent, `00-0af7651916cd43dd8448eb211c80319c-${trace.spanId}-01`);
  assert.equal(calls[1]?.timeout, 250);
  assert.equal(calls[1]?.req.body, undefined);
});

test('carries binary bodies as the frame tail both ways: a Buffer request body, a Buffer reply body, a Buffer reply', async (t) => {
  const calls: Call[] = [];
  const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
  const { path } = await startEndpoint(t, {
    echo: recorder('echo', calls),
    raw: recorder('raw', calls, () => Promise.resolve(bytes)),
  });
  const peer = await RawPeer.connect(t, path);
  peer.send(request(1, { bin: 1 }, { body: null }), bytes);
  const echoed = await peer.reply(1);
  assert.deepEqual(echoed.message, { t: 'res', id: 1, ok: true, value: { status: 200, body: null }, bin: 'body' });
  assert.deepEqual(echoed.binary, bytes);
  assert.ok(Buffer.isBuffer(calls[0]?.req.body));
  assert.deepEqual(calls[0]?.req.body, bytes);

  peer.send(request(2, { pool: 'raw' }));
  const raw = await peer.reply(2);
  assert.deepEqual(raw.message, { t: 'res', id: 2, ok: true, value: null, bin: 'value' });
  assert.deepEqual(raw.binary, bytes);

  // An empty Buffer body leaves no tail; it still reaches the actor as a Buffer.
  peer.send(request(3, { bin: 1 }, { body: null }));
  await peer.reply(3);
  assert.ok(Buffer.isBuffer(calls[2]?.req.body));
  assert.equal((calls[2]?.req.body as Buffer).length, 0);
});

test('answers a pool that does not run in this process with ACTORRT_E_UNKNOWN_POOL', async (t) => {
  const { path } = await startEndpoint(t, {});
  const peer = await RawPeer.connect(t, path);
  peer.send(request(9, { pool: 'elsewhere' }));
  const { message } = await peer.reply(9);
  assert.equal(message['ok'], false);
  assert.equal(message['code'], 'ACTORRT_E_UNKNOWN_POOL');
});

test('passes a coded rejection through; a plain throw, a synchronous throw and an unsendable reply fail only their request', async (t) => {
  const { path } = await startEndpoint(t, {
    timeout: { dispatch: () => Promise.reject(new ActorrtError('ACTORRT_E_TIMEOUT', 'too slow')) },
    bug: { dispatch: () => Promise.reject(new TypeError('x is undefined')) },
    sync: { dispatch: () => { throw new ActorrtError('ACTORRT_E_MAILBOX_FULL', 'full'); } },
    bigint: { dispatch: () => Promise.resolve({ body: { n: 1n } }) },
    fn: { dispatch: () => Promise.resolve({ body: () => 1 }) },
  });
  const peer = await RawPeer.connect(t, path);
  const codes: Record<string, string> = { timeout: 'ACTORRT_E_TIMEOUT', bug: 'ACTORRT_E_INTERNAL', sync: 'ACTORRT_E_MAILBOX_FULL', bigint: 'ACTORRT_E_BAD_REPLY', fn: 'ACTORRT_E_BAD_REPLY' };
  const pools = Object.keys(codes);
  pools.forEach((pool, i) => peer.send(request(i + 1, { pool })));
  for (const [i, pool] of pools.entries()) {
    const { message } = await peer.reply(i + 1);
    assert.equal(message['ok'], false, pool);
    assert.equal(message['code'], codes[pool], pool);
    assert.equal(typeof message['message'], 'string');
  }
});

/** Request frames each wrong in one field, with a readable id. */
const badRequests: ReadonlyArray<[string, Record<string, unknown>, Buffer?]> = [
  ['t is missing', { ...request(0), t: undefined }],
  ['t is a reply', request(0, { t: 'res' })],
  ['pool is a number', request(0, { pool: 7 })],
  ['timeout is zero', request(0, { timeout: 0 })],
  ['timeout is negative', request(0, { timeout: -5 })],
  ['timeout is NaN (null in JSON)', request(0, { timeout: Number.NaN })],
  ['timeout is text', request(0, { timeout: '1000' })],
  ['req is missing', request(0, { req: undefined })],
  ['req is a list', request(0, { req: [] })],
  ['req.method is missing', request(0, {}, { method: undefined })],
  ['req.path is a number', request(0, {}, { path: 1 })],
  ['req.requestId is missing', request(0, {}, { requestId: undefined })],
  ['req.ip is missing', request(0, {}, { ip: undefined })],
  ['req.ip is a number', request(0, {}, { ip: 127 })],
  ['req.protocol is missing', request(0, {}, { protocol: undefined })],
  ['req.protocol is ftp', request(0, {}, { protocol: 'ftp' })],
  ['req.protocol is upper case', request(0, {}, { protocol: 'HTTPS' })],
  ['req.params holds a list', request(0, {}, { params: { id: ['1'] } })],
  ['req.params is null', request(0, {}, { params: null })],
  ['req.query holds a number', request(0, {}, { query: { page: 2 } })],
  ['req.query holds a list of numbers', request(0, {}, { query: { page: [2] } })],
  ['req.headers is a string', request(0, {}, { headers: 'host: x' })],
  ['req.headers holds null', request(0, {}, { headers: { host: null } })],
  ['bin is 2', request(0, { bin: 2 }, { body: null })],
  ['bin with a JSON body too', request(0, { bin: 1 }, { body: { n: 1 } }), Buffer.from('tail')],
  ['a binary tail without bin', request(0), Buffer.from('tail')],
];

test('answers a malformed request whose id is readable with ACTORRT_E_BAD_FRAME, never runs it, and keeps serving the connection', async (t) => {
  const calls: Call[] = [];
  const { path, lines } = await startEndpoint(t, { echo: recorder('echo', calls) });
  const peer = await RawPeer.connect(t, path);
  for (const [i, [what, frame, tail]] of badRequests.entries()) {
    const id = 100 + i;
    peer.send({ ...frame, id }, tail);
    const { message } = await peer.reply(id);
    assert.equal(message['ok'], false, what);
    assert.equal(message['code'], 'ACTORRT_E_BAD_FRAME', what);
  }
  assert.equal(calls.length, 0);
  assert.equal(errorsIn(lines), badRequests.length);
  peer.send(request(1));
  assert.equal((await peer.reply(1)).message['ok'], true);
  assert.equal(calls.length, 1);
});

test('closes the connection, with an error logged, on a frame whose id is unreadable, that is not JSON or not a frame, or that is oversized', async (t) => {
  const calls: Call[] = [];
  const { path, lines } = await startEndpoint(t, { echo: recorder('echo', calls) });
  const json = (text: string): Buffer => {
    const out = Buffer.alloc(4 + Buffer.byteLength(text));
    out.writeUInt32BE(Buffer.byteLength(text), 0);
    out.write(text, 4);
    return out;
  };
  const oversized = Buffer.alloc(4);
  oversized.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
  const cases: ReadonlyArray<[string, (peer: RawPeer) => void]> = [
    ['no id', (p) => p.send({ ...request(0), id: undefined })],
    ['a negative id', (p) => p.send(request(-1))],
    ['a fractional id', (p) => p.send(request(1.5))],
    ['an id past the safe integers', (p) => p.send(request(2 ** 53))],
    ['an id as text', (p) => p.send({ ...request(0), id: '1' })],
    ['a list', (p) => p.send([request(1)])],
    ['null', (p) => p.send(null)],
    ['not JSON', (p) => p.sendPayload(json('{"t":"req","id":1,'))],
    ['shorter than its JSON length', (p) => p.sendPayload(Buffer.from([0, 0]))],
    ['a JSON length past its end', (p) => p.sendPayload(Buffer.from([0, 0, 1, 0, 0x7b, 0x7d]))],
    ['a length past the frame limit', (p) => p.socket.write(oversized)],
  ];
  for (const [what, send] of cases) {
    const peer = await RawPeer.connect(t, path);
    const before = errorsIn(lines);
    send(peer);
    await peer.closed;
    assert.equal(errorsIn(lines), before + 1, what);
  }
  assert.equal(calls.length, 0);
  // The endpoint itself goes on serving other connections.
  const peer = await RawPeer.connect(t, path);
  peer.send(request(1));
  assert.equal((await peer.reply(1)).message['ok'], true);
});

test('a bad frame after good ones on the same chunk: the good ones are served, then the connection closes', async (t) => {
  const calls: Call[] = [];
  const { path } = await startEndpoint(t, { echo: recorder('echo', calls, () => new Promise(() => {})) });
  const peer = await RawPeer.connect(t, path);
  peer.socket.write(Buffer.concat([encodeFrame(request(1)), encodeFrame(request(2)), encodeFrame({ t: 'req' }), encodeFrame(request(3))]));
  await peer.closed;
  assert.deepEqual(calls.map((c) => c.req.requestId), ['r1', 'r2']);
});

test('peersGone() stops accepting and resolves once every peer has hung up, its replies sent first', async (t) => {
  let dispatched: (release: () => void) => void = () => {};
  const running = new Promise<() => void>((resolve) => { dispatched = resolve; });
  const { path, endpoint } = await startEndpoint(t, {
    echo: recorder('echo', [], (req) => new Promise((resolve) => dispatched(() => resolve({ body: req.body })))),
  });
  const peer = await RawPeer.connect(t, path);
  peer.send(request(1));
  const release = await running;
  const gone = endpoint.peersGone(5000);
  await assert.rejects(RawPeer.connect(t, path), /ENOENT|ECONNREFUSED/);
  release();
  assert.deepEqual((await peer.reply(1)).message['value'], { body: { n: 1 } });
  peer.socket.end();
  await gone;
  await peer.closed;
});
