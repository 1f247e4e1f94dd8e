import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFrame, encodeFrame, FrameReader, FrameTooLargeError, MAX_FRAME_BYTES } from '../../runtime/channel/frames.js';

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
