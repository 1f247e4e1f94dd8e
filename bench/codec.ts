import { deserialize, serialize } from 'node:v8';
import { decodeFrame, encodeFrame } from '../runtime/channel/frames.js';

/** A request as it crosses a channel, and the reply the actor sends back. */
const request = {
  id: 12345, timeout: 2000,
  req: {
    method: 'GET', path: '/users/42', params: { id: '42' }, query: { expand: 'orders' }, requestId: 'k3J9x2-1a2b',
    headers: { host: '127.0.0.1:8080', 'user-agent': 'wrk', accept: '*/*', 'x-request-id': 'k3J9x2-1a2b' },
  },
};
const reply = { id: 12345, ok: true, value: { id: 42, name: 'Ada Lovelace', email: 'ada@example.com', roles: ['admin', 'dev'], active: true } };

function measure(encode: (v: unknown) => Buffer, decode: (b: Buffer) => unknown, iterations: number): number {
  const t = performance.now();
  for (let i = 0; i < iterations; i++) {
    decode(encode(request));
    decode(encode(reply));
  }
  return ((performance.now() - t) * 1000) / iterations;
}

/** Microseconds per request/reply round of encode + decode: the channel's JSON frames vs v8.serialize. */
export function benchCodec(iterations = 200_000): { json: number; v8: number } {
  const json = (): number => measure((v) => encodeFrame(v), (b) => decodeFrame(b.subarray(4)).message, iterations);
  const v8 = (): number => measure(serialize, deserialize, iterations);
  json(); v8(); // warm-up
  let best = { json: Infinity, v8: Infinity };
  for (let round = 0; round < 3; round++) best = { json: Math.min(best.json, json()), v8: Math.min(best.v8, v8()) };
  return best;
}
