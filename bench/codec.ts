import { pathToFileURL } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { decodeFrame, encodeFrame } from '../runtime/channel/frames.js';
import { BadFrameError, decodeReplyFrame, decodeRequestFrame, type ReplyFrame, type RequestFrame } from '../runtime/channel/wire.js';

/** A request as it crosses a channel (its trace as the traceparent `tp`), and the reply the actor sends back. */
const request = {
  id: 12345, timeout: 2000, tp: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  req: {
    method: 'GET', path: '/users/42', params: { id: '42' }, query: { expand: 'orders' }, requestId: 'k3J9x2-1a2b', ip: '127.0.0.1', protocol: 'http',
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

/** The frames an endpoint and a channel receive for that request and reply. */
const requestFrame = { t: 'req', pool: 'users', ...request } as const;
const replyFrame = { t: 'res', ...reply } as const;

/**
 * Microseconds to decode one request frame and its reply frame (JSON.parse included, encode not),
 * trusted as the endpoint and channel did before (a cast, then the fields read) vs checked field
 * by field (decodeRequestFrame / decodeReplyFrame). Interleaved rounds, best of 5 each.
 */
export function benchDecode(iterations = 200_000): { trusted: number; checked: number } {
  const req = encodeFrame(requestFrame).subarray(4);
  const res = encodeFrame(replyFrame).subarray(4);
  let sink = 0;
  const trusted = (): number => {
    const t = performance.now();
    for (let i = 0; i < iterations; i++) {
      const a = decodeFrame(req);
      const f = a.message as RequestFrame;
      const r = f.bin === 1 ? { ...f.req, body: a.binary } : f.req;
      sink += f.id + f.timeout + f.pool.length + r.path.length;
      const g = decodeFrame(res).message as ReplyFrame;
      sink += g.id + (g.ok ? 1 : 0);
    }
    return ((performance.now() - t) * 1000) / iterations;
  };
  const checked = (): number => {
    const t = performance.now();
    for (let i = 0; i < iterations; i++) {
      const a = decodeFrame(req);
      const f = decodeRequestFrame(a.message, a.binary);
      if (f instanceof BadFrameError) throw f;
      sink += f.id + f.timeout + f.pool.length + f.req.path.length;
      const b = decodeFrame(res);
      const g = decodeReplyFrame(b.message, b.binary);
      if (g instanceof BadFrameError) throw g;
      sink += g.id + (g.ok ? 1 : 0);
    }
    return ((performance.now() - t) * 1000) / iterations;
  };
  trusted(); checked(); // warm-up
  let best = { trusted: Infinity, checked: Infinity };
  for (let round = 0; round < 5; round++) best = { trusted: Math.min(best.trusted, trusted()), checked: Math.min(best.checked, checked()) };
  if (sink === 0) throw new Error('unreachable: keeps the decoded fields live');
  return best;
}

// `node dist/bench/codec.js` runs both measurements on their own.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const c = benchCodec();
  const d = benchDecode();
  process.stdout.write(`encode + decode, request and reply: JSON frames ${c.json.toFixed(2)} us, v8.serialize ${c.v8.toFixed(2)} us\n`
    + `decode only, request and reply: trusted (cast) ${d.trusted.toFixed(2)} us, checked ${d.checked.toFixed(2)} us\n`);
}
