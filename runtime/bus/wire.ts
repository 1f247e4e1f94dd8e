import { BadField, count, item, list, nonNegative, oneOf, optList, record, str } from '../protocol/check.js';
import type { Invalidation } from '../protocol/shapes.js';

/**
 * What instances say to each other on the invalidation bus (Redis pub/sub, JSON text). Anything
 * on the channel is data from another process, possibly another version or another program:
 * `decodeBusMessage` checks it field by field and rejects what it cannot prove.
 *
 * - `inv` on the shared channel: `from` invalidated these keys; every peer drops them from its
 *   memory stores, then answers `ack` on the sender's own channel.
 * - `ack` on `<channel>:to:<from>`: the peer `from` has dropped the keys of invalidation `id`.
 * - `beat` on the shared channel, every 500 ms: its echo proves the sender's subscription still
 *   receives (a silent network is noticed without waiting for TCP), and peers learn who is there.
 */
export type BusMessage =
  | { readonly t: 'inv'; readonly from: string; readonly id: number; readonly at: number; readonly inv: Invalidation }
  | { readonly t: 'ack'; readonly from: string; readonly id: number }
  | { readonly t: 'beat'; readonly from: string };

/** Bus wire format version: a message of another version is ignored (and counted), never misread. */
export const BUS_VERSION = 1;
/** Longest message accepted (an invalidation of many keys stays far below). */
const MAX_BYTES = 1 << 20;

export function encodeBusMessage(msg: BusMessage): string {
  if (msg.t !== 'inv') return JSON.stringify({ v: BUS_VERSION, ...msg });
  const { inv, ...rest } = msg;
  return JSON.stringify({ v: BUS_VERSION, ...rest, keys: inv.keys, prefixes: inv.prefixes, ...(inv.stores === undefined ? {} : { stores: inv.stores }) });
}

/** The message in `text`; throws BadField when it is not one this version understands. */
export function decodeBusMessage(text: string): BusMessage {
  if (text.length > MAX_BYTES) throw new BadField('bus', `a message of at most ${MAX_BYTES} bytes`, 'a longer one');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BadField('bus', 'JSON', text);
  }
  const m = record(raw, 'bus');
  if (m['v'] !== BUS_VERSION) throw new BadField('bus.v', `version ${BUS_VERSION}`, m['v']);
  const t = oneOf(m, 't', ['inv', 'ack', 'beat'] as const, 'bus');
  const from = str(m, 'from', 'bus');
  if (t === 'beat') return { t, from };
  const id = count(m, 'id', 'bus');
  if (t === 'ack') return { t, from, id };
  const stores = optList(m, 'stores', 'bus', item.str);
  return {
    t, from, id, at: nonNegative(m, 'at', 'bus'),
    inv: { keys: list(m, 'keys', 'bus', item.str), prefixes: list(m, 'prefixes', 'bus', item.str), ...(stores === undefined ? {} : { stores }) },
  };
}
