import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BUS_VERSION, decodeBusMessage, encodeBusMessage, type BusMessage } from '../../runtime/bus/wire.js';
import { BadField } from '../../runtime/protocol/check.js';

const text = fc.string({ maxLength: 30 });
const message: fc.Arbitrary<BusMessage> = fc.oneof(
  fc.record({ t: fc.constant('beat' as const), from: text }, { noNullPrototype: true }),
  fc.record({ t: fc.constant('ack' as const), from: text, id: fc.maxSafeNat() }, { noNullPrototype: true }),
  fc.record({
    t: fc.constant('inv' as const), from: text, id: fc.maxSafeNat(), at: fc.maxSafeNat(),
    inv: fc.record({ keys: fc.array(text, { maxLength: 4 }), prefixes: fc.array(text, { maxLength: 4 }), stores: fc.array(text, { maxLength: 2 }) }, { requiredKeys: ['keys', 'prefixes'], noNullPrototype: true }),
  }, { noNullPrototype: true }),
);

test('every bus message survives encode / decode as it was', () => {
  fc.assert(fc.property(message, (m) => { assert.deepStrictEqual(decodeBusMessage(encodeBusMessage(m)), m); }), { numRuns: 500 });
});

test('what another program or version puts on the channel is refused with the path, never misread', () => {
  const bad: ReadonlyArray<readonly [string, string]> = [
    ['not json', 'bus'],
    ['[]', 'bus'],
    [JSON.stringify({ v: BUS_VERSION + 1, t: 'beat', from: 'x' }), 'bus.v'],
    [JSON.stringify({ t: 'beat', from: 'x' }), 'bus.v'],
    [JSON.stringify({ v: BUS_VERSION, t: 'gossip', from: 'x' }), 'bus.t'],
    [JSON.stringify({ v: BUS_VERSION, t: 'ack', from: 'x' }), 'bus.id'],
    [JSON.stringify({ v: BUS_VERSION, t: 'ack', from: 'x', id: -1 }), 'bus.id'],
    [JSON.stringify({ v: BUS_VERSION, t: 'inv', from: 'x', id: 1, at: 1, keys: 'k', prefixes: [] }), 'bus.keys'],
    [JSON.stringify({ v: BUS_VERSION, t: 'inv', from: 'x', id: 1, at: 1, keys: [1], prefixes: [] }), 'bus.keys[0]'],
    [JSON.stringify({ v: BUS_VERSION, t: 'inv', from: 7, id: 1, at: 1, keys: [], prefixes: [] }), 'bus.from'],
    ['x'.repeat((1 << 20) + 1), 'bus'],
  ];
  for (const [raw, path] of bad) {
    assert.throws(() => decodeBusMessage(raw), (err: unknown) => err instanceof BadField && err.path.startsWith(path), raw.slice(0, 80));
  }
});
