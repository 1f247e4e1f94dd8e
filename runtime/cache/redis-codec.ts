import type Keyv from 'keyv';
import { isStoredReply } from './storing.js';

/** What keyv hands its serializer and expects back from its deserializer. */
type Wrapped = { value?: unknown; expires?: number | null };
type Codec = { serialize: NonNullable<Keyv['serialize']>; deserialize: NonNullable<Keyv['deserialize']> };

/** How an entry of the route cache starts in Redis; keyv's own format starts with `{"value":`. */
const REPLY_PREFIX = '{"reply":';

/**
 * keyv's serializer for the Redis store, with stored replies in a format of their own. keyv's
 * default (@keyv/serialize) parses every value with a reviver, which is called for every field
 * of a stored reply: on the bench's Redis hit it was 11.5% of the front worker's CPU profile, the
 * largest item after the syscalls. A stored reply is instead written as plain JSON,
 * `{"reply":{...},"expires":...}` (a Buffer body as base64, flagged), and read with JSON.parse
 * alone. Everything else (what actors store, variant markers) keeps keyv's format, and values in
 * keyv's format, whoever wrote them (an older actorrt included), are read by keyv's parser as
 * before: no stored entry becomes unreadable.
 */
export function replyCodec(fallback: Codec): Codec {
  const serialize = (data: Wrapped): string | Promise<string> => {
    const value = data.value;
    if (!isStoredReply(value)) return fallback.serialize(data as Parameters<Codec['serialize']>[0]);
    const reply = Buffer.isBuffer(value.body) ? { ...value, body: value.body.toString('base64'), base64: true } : value;
    return JSON.stringify({ reply, expires: data.expires ?? null });
  };
  const deserialize = (raw: string): Wrapped | undefined | Promise<Wrapped | undefined> => {
    if (typeof raw !== 'string' || !raw.startsWith(REPLY_PREFIX)) return fallback.deserialize(raw) as Wrapped | undefined | Promise<Wrapped | undefined>;
    const parsed = JSON.parse(raw) as { reply?: unknown; expires?: unknown };
    const reply = parsed.reply;
    if (reply !== null && typeof reply === 'object' && (reply as { base64?: unknown }).base64 === true) {
      const { base64: _, body, ...rest } = reply as { base64: true; body: unknown };
      // A body that is not a string is no stored reply: isStoredReply refuses it where it is read.
      return { value: { ...rest, body: typeof body === 'string' ? Buffer.from(body, 'base64') : body }, expires: expiresOf(parsed.expires) };
    }
    return { value: reply, expires: expiresOf(parsed.expires) };
  };
  return { serialize: serialize as Codec['serialize'], deserialize: deserialize as Codec['deserialize'] };
}

function expiresOf(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}
