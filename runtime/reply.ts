import { ActorrtError } from './errors.js';

/**
 * The one shape every reply takes once it leaves an actor (or an upstream): front workers write
 * it, the cache stores it, ctx.ask hands its body to the asking actor. `toReply` is the only
 * place an actor's return value is interpreted.
 */

const REPLY_KEYS = new Set(['status', 'headers', 'body']);
/** The headers of a reply that set none; compared by identity on the hot path. */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** A reply ready to write. */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: unknown;
}

/** Interpret what receive() returned: `{ status?, headers?, body? }`, or any other value as a 200 JSON body. */
export function toReply(value: unknown): Reply {
  if (isReplyShape(value)) {
    const status = value.status ?? 200;
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new ActorrtError('ACTORRT_E_BAD_REPLY', `the actor replied with status ${String(status)}; use an integer from 100 to 599`);
    }
    return { status, headers: value.headers ?? NO_HEADERS, body: value.body };
  }
  return { status: 200, headers: NO_HEADERS, body: value };
}

function isReplyShape(value: unknown): value is { status?: number; headers?: Record<string, string>; body?: unknown } {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => REPLY_KEYS.has(k));
}

/** A reply body as bytes on the wire, and the content type it implies when the actor set none. */
export interface EncodedBody {
  readonly payload: string | Buffer | undefined;
  readonly type: string | undefined;
}

/** Encode a reply's body: Buffers as octets, strings as UTF-8 text, anything else as JSON; none for 204 / 304. */
export function encodeBody(reply: Reply): EncodedBody {
  const { body } = reply;
  if (body === undefined || reply.status === 204 || reply.status === 304) return { payload: undefined, type: undefined };
  if (Buffer.isBuffer(body)) return { payload: body, type: 'application/octet-stream' };
  if (typeof body === 'string') return { payload: body, type: 'text/plain; charset=utf-8' };
  let payload: string | undefined;
  try {
    payload = JSON.stringify(body);
  } catch (err) {
    throw new ActorrtError('ACTORRT_E_BAD_REPLY', `the actor's reply body does not serialize to JSON: ${(err as Error).message}`);
  }
  if (payload === undefined) throw voidBody(body);
  return { payload, type: 'application/json; charset=utf-8' };
}

/**
 * Refuse a reply whose body JSON would drop without a word (a function, a symbol): an empty 200
 * would hide the bug. Checked before a reply crosses a channel, where it is serialized whole.
 */
export function checkBody(value: unknown): void {
  const body = isReplyShape(value) ? value.body : value;
  if (typeof body === 'function' || typeof body === 'symbol') throw voidBody(body);
}

function voidBody(body: unknown): ActorrtError {
  return new ActorrtError('ACTORRT_E_BAD_REPLY', `the actor's reply body is a ${typeof body}, which has no JSON form`);
}
