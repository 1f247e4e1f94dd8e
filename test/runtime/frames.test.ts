import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, FrameReader, FrameTooLargeError, MAX_FRAME_BYTES } from '../../runtime/channel/frames.js';
import { BadFrameError, decodeReplyFrame, decodeRequestFrame, splitBinary } from '../../runtime/channel/wire.js';
import { ActorrtError } from '../../runtime/errors.js';

test('round-trips a message and its binary tail', () => {
  const frame = encodeFrame({ id: 1, req: { path: '/x', params: { id: 'é' } } }, Buffer.from([0, 1, 2, 255]));
  const [payload] = new FrameReader().push(frame);
  assert.ok(payload);
  const { message, binary } = decodeFrame(payload);
  assert.deepEqual(message, { id: 1, req: { path: '/x', params: { id: 'é' } } });
  assert.deepEqual([...(binary ?? [])], [0, 1, 2, 255]);
  assert.equal(decodeFrame(new FrameReader().push(encodeFrame({ a: 1 }))[0] as Buffer).binary, undefined);
});

test('reassembles frames split across chunks and splits several frames in one chunk', () => {
  const frames = Buffer.concat([encodeFrame({ n: 1 }), encodeFrame({ n: 2 }, Buffer.from('tail')), encodeFrame({ n: 3 })]);
  const reader = new FrameReader();
  const out: unknown[] = [];
  for (let i = 0; i < frames.length; i += 5) {
    for (const p of reader.push(frames.subarray(i, i + 5))) out.push(decodeFrame(p).message);
  }
  assert.deepEqual(out, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  const all = new FrameReader().push(frames).map((p) => decodeFrame(p).message);
  assert.deepEqual(all, [{ n: 1 }, { n: 2 }, { n: 3 }]);
});

test('refuses a frame that announces more than the limit', () => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
  assert.throws(() => new FrameReader().push(header), /exceeds/);
});

test('refuses to encode a frame the receiver would reject, before anything is written', () => {
  const tail = Buffer.alloc(MAX_FRAME_BYTES);
  assert.throws(() => encodeFrame({ id: 1 }, tail), (err: unknown) => {
    assert.ok(err instanceof FrameTooLargeError);
    assert.equal(err.bytes, MAX_FRAME_BYTES + 4 + JSON.stringify({ id: 1 }).length);
    return true;
  });
  assert.equal(encodeFrame({ id: 1 }, tail.subarray(0, MAX_FRAME_BYTES - 64)).length > 0, true);
});

test('refuses a payload too short for its JSON length, or whose JSON length runs past its end, instead of parsing what is there', () => {
  assert.throws(() => decodeFrame(Buffer.from([0, 0])), /too short/);
  const payload = Buffer.from([0, 0, 0, 10, 0x31, 0x32]); // announces 10 bytes of JSON, holds "12"
  assert.throws(() => decodeFrame(payload), /announces 10 bytes/);
});

const headers = { host: 'h', 'set-cookie': ['a=1', 'b=2'] };
/** `fields` in an object without a prototype, as a decoded request's params, query and headers are. */
const bare = <T extends object>(fields: T): T => Object.assign(Object.create(null) as T, fields);
const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const PARENT = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: true, tracestate: undefined, remote: true };
const validRequest = (over: Record<string, unknown> = {}, req: Record<string, unknown> = {}): Record<string, unknown> => ({
  t: 'req', id: 4, pool: 'api', timeout: 2000, tp: TP,
  req: { method: 'GET', path: '/users/4', params: { id: '4' }, query: { tag: ['a', 'b'] }, headers: { ...headers }, requestId: 'x-4', ip: '10.0.0.7', protocol: 'https', ...req },
  ...over,
});

test('a request frame decodes to exactly the fields of an ActorRequest: keys this build does not know are dropped, not refused', () => {
  const decoded = decodeRequestFrame(validRequest({ future: { a: 1 } }, { body: { n: 1 }, url: '/users/4?tag=a' }), undefined);
  assert.ok(!(decoded instanceof BadFrameError));
  const { trace, ...fields } = decoded.req;
  assert.deepEqual({ ...decoded, req: fields }, {
    id: 4, pool: 'api', timeout: 2000, parent: PARENT,
    req: { method: 'GET', path: '/users/4', params: bare({ id: '4' }), query: bare({ tag: ['a', 'b'] }), headers: bare(headers), body: { n: 1 }, requestId: 'x-4', ip: '10.0.0.7', protocol: 'https' },
  });
  assert.deepEqual(Object.keys(decoded.req).sort(), ['body', 'headers', 'ip', 'method', 'params', 'path', 'protocol', 'query', 'requestId', 'trace']);
  assert.deepEqual([trace.traceId, trace.parentSpanId, trace.sampled, trace.tracestate], [PARENT.traceId, PARENT.spanId, true, undefined]);
  const withState = decodeRequestFrame(validRequest({ ts: 'a=1,b=2' }), undefined);
  assert.ok(!(withState instanceof BadFrameError));
  assert.equal(withState.req.trace.tracestate, 'a=1,b=2');
  const tail = Buffer.from('bytes');
  const binary = decodeRequestFrame(validRequest({ bin: 1 }, { body: null }), tail);
  assert.ok(!(binary instanceof BadFrameError));
  assert.equal(binary.req.body, tail);
});

test('a malformed frame is a BadFrameError (ACTORRT_E_BAD_FRAME) that names the field, with the id when the id is readable', () => {
  const bad = decodeRequestFrame(validRequest({}, { headers: { host: 7 } }), undefined);
  assert.ok(bad instanceof BadFrameError);
  assert.equal(bad.code, 'ACTORRT_E_BAD_FRAME');
  assert.equal(bad.id, 4);
  assert.match(bad.message, /req\.headers/);
  for (const [req, field] of [[{ ip: undefined }, /req\.ip/], [{ ip: ['10.0.0.7'] }, /req\.ip/], [{ protocol: undefined }, /req\.protocol/], [{ protocol: 'wss' }, /req\.protocol/]] as const) {
    const wrong = decodeRequestFrame(validRequest({}, req), undefined);
    assert.ok(wrong instanceof BadFrameError, JSON.stringify(req));
    assert.match(wrong.message, field);
  }
  for (const [over, field] of [[{ tp: undefined }, /tp/], [{ tp: 7 }, /tp/], [{ tp: TP.toUpperCase() }, /tp/], [{ tp: `00-${'0'.repeat(32)}-b7ad6b7169203331-01` }, /tp/],
    [{ ts: 7 }, /ts/], [{ ts: 'A=1' }, /ts/], [{ ts: 'a=1,a=2' }, /ts/]] as const) {
    const wrong = decodeRequestFrame(validRequest(over), undefined);
    assert.ok(wrong instanceof BadFrameError, JSON.stringify(over));
    assert.equal(wrong.id, 4);
    assert.match(wrong.message, field);
  }
  for (const id of [undefined, -1, 0.5, 2 ** 53, '4', null]) {
    const unreadable = decodeRequestFrame(validRequest({ id }), undefined);
    assert.ok(unreadable instanceof BadFrameError);
    assert.equal(unreadable.id, undefined, String(id));
  }
  assert.equal((decodeRequestFrame(validRequest({ id: 0 }), undefined) as { id: number }).id, 0);
  const reply = decodeReplyFrame({ t: 'res', id: 9, ok: true, value: 1, bin: 'value' }, undefined);
  assert.ok(reply instanceof BadFrameError);
  assert.equal(reply.id, 9);
  assert.match(reply.message, /value/);
});

test('an error reply is revived with its code; a code this build does not know becomes ACTORRT_E_INTERNAL, keeping it in the message', () => {
  const known = decodeReplyFrame({ t: 'res', id: 1, ok: false, code: 'ACTORRT_E_TIMEOUT', message: 'slow' }, undefined);
  assert.ok(!(known instanceof BadFrameError) && !known.ok);
  assert.ok(known.error instanceof ActorrtError);
  assert.equal(known.error.code, 'ACTORRT_E_TIMEOUT');
  assert.equal(known.error.message, 'slow');
  const unknown = decodeReplyFrame({ t: 'res', id: 1, ok: false, code: 'E_OTHER', message: 'what' }, undefined);
  assert.ok(!(unknown instanceof BadFrameError) && !unknown.ok);
  assert.equal(unknown.error.code, 'ACTORRT_E_INTERNAL');
  assert.match(unknown.error.message, /E_OTHER: what/);
});

const text = fc.string({ maxLength: 8 });
const anyRequest = fc.record({
  method: text, path: text, requestId: text, ip: text, protocol: fc.constantFrom('http' as const, 'https' as const),
  params: fc.dictionary(text, text, { maxKeys: 3 }),
  query: fc.dictionary(text, fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 3 }),
  headers: fc.dictionary(text, fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 3 }),
  body: fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a))),
});

test('any request and any reply survive encode and decode as the channel and the endpoint write them', () => {
  fc.assert(fc.property(fc.nat(), fc.integer({ min: 1, max: 2 ** 31 - 1 }), text, anyRequest, (id, timeout, pool, req) => {
    // As Channel.request writes it.
    const binary = Buffer.isBuffer(req.body) ? req.body : undefined;
    const frame = binary === undefined ? { t: 'req', id, pool, timeout, req, tp: TP } : { t: 'req', id, pool, timeout, req: { ...req, body: null }, bin: 1, tp: TP };
    const [payload] = new FrameReader().push(encodeFrame(frame, binary));
    const { message, binary: tail } = decodeFrame(payload as Buffer);
    const decoded = decodeRequestFrame(message, tail);
    assert.ok(!(decoded instanceof BadFrameError), decoded instanceof BadFrameError ? decoded.message : '');
    const { body, ...fields } = req;
    const copied = JSON.parse(JSON.stringify(fields)) as Record<string, object>;
    const expected = {
      ...copied, params: bare(copied['params'] ?? {}), query: bare(copied['query'] ?? {}), headers: bare(copied['headers'] ?? {}),
      body: binary ?? (body === undefined ? undefined : JSON.parse(JSON.stringify(body)) as unknown),
    };
    const { trace, ...decodedFields } = decoded.req;
    assert.deepEqual({ ...decoded, req: decodedFields }, { id, pool, timeout, parent: PARENT, req: expected });
    assert.equal(trace.parentSpanId, PARENT.spanId);
  }));
  const anyValue = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
    fc.record({ status: fc.integer({ min: 100, max: 599 }), body: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)) }).map((r) => ({ ...r })),
  );
  fc.assert(fc.property(fc.nat(), anyValue, (id, value) => {
    // As the endpoint writes it.
    const { json, binary, bin } = splitBinary(value);
    const payload = encodeFrame(bin === undefined ? { t: 'res', id, ok: true, value: json } : { t: 'res', id, ok: true, value: json, bin }, binary).subarray(4);
    const { message, binary: tail } = decodeFrame(payload);
    const decoded = decodeReplyFrame(message, tail);
    assert.ok(!(decoded instanceof BadFrameError) && decoded.ok, decoded instanceof BadFrameError ? decoded.message : '');
    assert.deepEqual(decoded.value, binary === undefined ? JSON.parse(JSON.stringify(value)) as unknown : value);
  }));
});

test('the decoders never throw: any JSON, with or without a tail, is a decoded frame or a BadFrameError', () => {
  const junk = fc.oneof(fc.jsonValue({ maxDepth: 3 }), anyRequest.map((req) => validRequest({}, req)),
    fc.record({ t: fc.constantFrom('req', 'res'), id: fc.oneof(fc.nat(), fc.jsonValue({ maxDepth: 1 })), ok: fc.jsonValue({ maxDepth: 1 }), bin: fc.jsonValue({ maxDepth: 1 }), value: fc.jsonValue({ maxDepth: 1 }), req: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }));
  fc.assert(fc.property(junk, fc.option(fc.uint8Array({ maxLength: 4 }).map((a) => Buffer.from(a)), { nil: undefined }), (message, binary) => {
    const parsed = JSON.parse(JSON.stringify(message) ?? 'null') as unknown;
    for (const decoded of [decodeRequestFrame(parsed, binary), decodeReplyFrame(parsed, binary)]) {
      if (decoded instanceof BadFrameError) assert.equal(decoded.code, 'ACTORRT_E_BAD_FRAME');
      else assert.ok(Number.isSafeInteger(decoded.id) && decoded.id >= 0);
    }
  }), { numRuns: 2000 });
});

test('a decoded request\'s params, query and headers have no prototype: a name the client sent is its value, one it did not is undefined', () => {
  const message = JSON.parse(JSON.stringify(validRequest({}, {
    params: { id: 'constructor' },
    query: JSON.parse('{"__proto__":"x","toString":"1","constructor":"ferrari"}') as unknown,
    headers: { host: 'h' },
  }))) as unknown;
  const decoded = decodeRequestFrame(message, undefined);
  assert.ok(!(decoded instanceof BadFrameError));
  const { params, query, headers } = decoded.req;
  for (const o of [params, query, headers]) assert.equal(Object.getPrototypeOf(o), null);
  assert.deepEqual(Object.entries(query), [['__proto__', 'x'], ['toString', '1'], ['constructor', 'ferrari']]);
  assert.equal((headers as Record<string, unknown>)['constructor'], undefined);
  assert.equal((params as Record<string, unknown>)['hasOwnProperty'], undefined);
  assert.equal(JSON.stringify(query), '{"__proto__":"x","toString":"1","constructor":"ferrari"}');
});
