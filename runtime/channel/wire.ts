import type { ActorRequest, RequestTrace } from '../../actors/index.js';
import { ActorrtError, reviveError } from '../errors.js';
import { decodeFrame, encodeFrame, FrameTooLargeError, MAX_FRAME_BYTES, type Decoded } from './frames.js';
import { childTrace, parseTraceparent, parseTracestate, type TraceParent } from '../trace/trace-context.js';

/** Front/pool process -> pool process: run this request on `pool`. */
export interface RequestFrame {
  readonly t: 'req';
  readonly id: number;
  readonly pool: string;
  readonly timeout: number;
  /** The request (its trace apart); its body travels as the binary tail when it is a Buffer (`bin`). */
  readonly req: Omit<ActorRequest, 'body' | 'trace'> & { readonly body?: unknown };
  readonly bin?: 1;
  /** The caller's span as a W3C traceparent: the receiving side's span is its child. */
  readonly tp: string;
  /** The trace's tracestate, when it has one (undefined is left out of the JSON). */
  readonly ts?: string | undefined;
}

/** Pool process -> caller: the outcome of request `id`. */
export type ReplyFrame =
  | { readonly t: 'res'; readonly id: number; readonly ok: true; readonly value: unknown; readonly bin?: 'value' | 'body' }
  | { readonly t: 'res'; readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

/** Request `id` for `pool` as a frame's JSON part and binary tail, with `via`'s traceparent (the caller's span). */
export function requestFrame(id: number, pool: string, req: ActorRequest, timeout: number, via: RequestTrace): { readonly message: RequestFrame; readonly binary: Buffer | undefined } {
  const binary = Buffer.isBuffer(req.body) ? req.body : undefined;
  // The trace travels as `tp` / `ts` (the receiver's span is made there), the rest as the actor
  // sees it. Copied field by field: a rest destructuring (`{ trace, ...fields }`) cost 1.7 us more
  // per frame (measured, 200k frames), more than the whole JSON encoding.
  const fields = {
    method: req.method, path: req.path, params: req.params, query: req.query, headers: req.headers, body: binary === undefined ? req.body : null,
    requestId: req.requestId, ip: req.ip, protocol: req.protocol,
  };
  // `ts` undefined is left out of the JSON.
  const message: RequestFrame = binary === undefined
    ? { t: 'req', id, pool, timeout, req: fields, tp: via.traceparent, ts: via.tracestate }
    : { t: 'req', id, pool, timeout, req: fields, bin: 1, tp: via.traceparent, ts: via.tracestate };
  return { message, binary };
}

/**
 * requestFrame encoded, or the error that fails this call alone: a message that is not JSON (a
 * ctx.ask message with a BigInt or a cycle) or one past the frame limit (ACTORRT_E_BODY_TOO_LARGE).
 */
export function encodeRequestFrame(id: number, pool: string, req: ActorRequest, timeout: number, via: RequestTrace): Buffer | Error {
  const { message, binary } = requestFrame(id, pool, req, timeout, via);
  try {
    return encodeFrame(message, binary);
  } catch (err) {
    return err instanceof FrameTooLargeError
      ? new ActorrtError('ACTORRT_E_BODY_TOO_LARGE', `the request to pool "${pool}" is ${err.bytes} bytes; messages to isolated pools are limited to ${MAX_FRAME_BYTES} bytes`)
      : err instanceof Error ? err : new Error(String(err));
  }
}

/** Split a value into its JSON part and a Buffer to send as the tail, and say where it goes back. */
export function splitBinary(value: unknown): { json: unknown; binary: Buffer | undefined; bin: 'value' | 'body' | undefined } {
  if (Buffer.isBuffer(value)) return { json: null, binary: value, bin: 'value' };
  if (value !== null && typeof value === 'object' && Buffer.isBuffer((value as { body?: unknown }).body)) {
    return { json: { ...value, body: null }, binary: (value as { body: Buffer }).body, bin: 'body' };
  }
  return { json: value, binary: undefined, bin: undefined };
}

// ---------------------------------------------------------------------------------------------
// Decoding: a frame comes from another process, so it is checked here, once, field by field, and
// nothing past this point trusts its shape. Measured (bench/codec.ts benchDecode, one request and
// its reply, JSON.parse included): trusted by a cast 1.80 us, checked 1.88 us. The checks alone
// take ~60 ns, as a compiled ajv schema of the same checks does (60-80 ns), but hand-written ones
// also build the request with only the fields an actor sees and check the binary tail against
// `bin` in the same pass. Keys this build does not know are ignored, not refused (and never copied
// through), so a process of a newer build can add one without breaking an `actorrt reload --roll`.
// ---------------------------------------------------------------------------------------------

/**
 * A frame without the shape its side expects. `id` is the request it was about when that much
 * could be read (the peer then gets an error for that request only); undefined when it could not,
 * and then the connection is closed, since nothing else on it can be matched up any more.
 */
export class BadFrameError extends ActorrtError {
  constructor(readonly id: number | undefined, what: string) {
    super('ACTORRT_E_BAD_FRAME', id === undefined ? `malformed channel frame: ${what}` : `malformed channel frame for request ${id}: ${what}`);
  }
}

/** A request frame as checked, its binary tail joined back as the body. */
export interface ReceivedRequest {
  readonly id: number;
  readonly pool: string;
  readonly timeout: number;
  /** The request; its trace is a new span under `parent`, with ids made here (an SDK's span replaces it: endpoint.ts). */
  readonly req: ActorRequest;
  /** The caller's span (`tp`, `ts`). */
  readonly parent: TraceParent;
}

/** A reply frame as checked: the value (binary tail joined back), or the error revived as the same code. */
export type ReceivedReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: ActorrtError };

const EMPTY = Buffer.alloc(0);

/**
 * One frame's payload, decoded (frames.ts) and checked by `check`: what both ends of a channel do
 * with every frame they read. A payload that is not a frame at all names no request.
 */
export function readFrame<T>(payload: Buffer, check: (message: unknown, binary: Buffer | undefined) => T | BadFrameError): T | BadFrameError {
  let decoded: Decoded;
  try {
    decoded = decodeFrame(payload);
  } catch (err) {
    return new BadFrameError(undefined, err instanceof Error ? err.message : String(err));
  }
  return check(decoded.message, decoded.binary);
}

/**
 * Check a decoded request frame (`message`, its JSON part; `binary`, its tail). The request's
 * params, query and headers objects are taken over, their prototype removed: pass a message of
 * its own, as decodeFrame gives.
 */
export function decodeRequestFrame(message: unknown, binary: Buffer | undefined): ReceivedRequest | BadFrameError {
  if (!isObject(message)) return new BadFrameError(undefined, 'not an object');
  const id = readId(message);
  if (message['t'] !== 'req') return new BadFrameError(id, 't is not "req"');
  if (id === undefined) return new BadFrameError(undefined, 'id is not a non-negative integer');
  const { pool, timeout, req, bin, tp, ts } = message;
  if (typeof pool !== 'string') return new BadFrameError(id, 'pool is not a string');
  if (ts !== undefined && (typeof ts !== 'string' || parseTracestate(ts) !== ts)) return new BadFrameError(id, 'ts is not a valid tracestate');
  const parent = typeof tp === 'string' ? parseTraceparent(tp, ts) : undefined;
  if (parent === undefined) return new BadFrameError(id, 'tp is not a valid traceparent');
  if (typeof timeout !== 'number' || !(timeout > 0) || timeout === Infinity) return new BadFrameError(id, 'timeout is not a positive number of milliseconds');
  if (bin !== undefined && bin !== 1) return new BadFrameError(id, 'bin is not 1');
  if (bin === undefined && binary !== undefined) return new BadFrameError(id, 'a binary tail without bin');
  if (!isObject(req)) return new BadFrameError(id, 'req is not an object');
  const { method, path, params, query, headers, requestId, ip, protocol } = req;
  if (typeof method !== 'string') return new BadFrameError(id, 'req.method is not a string');
  if (typeof path !== 'string') return new BadFrameError(id, 'req.path is not a string');
  if (typeof requestId !== 'string') return new BadFrameError(id, 'req.requestId is not a string');
  if (typeof ip !== 'string') return new BadFrameError(id, 'req.ip is not a string');
  if (protocol !== 'http' && protocol !== 'https') return new BadFrameError(id, 'req.protocol is not "http" or "https"');
  if (!isStrings(params)) return new BadFrameError(id, 'req.params is not an object of strings');
  if (!isStringsOrLists(query)) return new BadFrameError(id, 'req.query is not an object of strings and string lists');
  if (!isStringsOrLists(headers)) return new BadFrameError(id, 'req.headers is not an object of strings and string lists');
  // Without a prototype, as the front worker hands them to an inline actor: names are the client's
  // (`?constructor=x`, `/users/:id` = "constructor"), and one the request lacks reads as undefined,
  // not as an Object.prototype member. In place: JSON.parse made these objects for this frame alone.
  // (JSON.parse keeps a `__proto__` key as an own property, so it arrives as sent.)
  Object.setPrototypeOf(params, null);
  Object.setPrototypeOf(query, null);
  Object.setPrototypeOf(headers, null);
  let body = req['body'];
  if (bin === 1) {
    if (body !== null) return new BadFrameError(id, 'req.body is not null although the body is the binary tail');
    body = binary ?? EMPTY; // an empty Buffer body leaves no tail
  }
  // A new object with just the fields of an ActorRequest: nothing unchecked reaches an actor.
  return { id, pool, timeout, parent, req: { method, path, params, query, headers, body, requestId, ip, protocol, trace: childTrace(parent) } };
}

/** Check a decoded reply frame (`message`, its JSON part; `binary`, its tail). */
export function decodeReplyFrame(message: unknown, binary: Buffer | undefined): ReceivedReply | BadFrameError {
  if (!isObject(message)) return new BadFrameError(undefined, 'not an object');
  const id = readId(message);
  if (message['t'] !== 'res') return new BadFrameError(id, 't is not "res"');
  if (id === undefined) return new BadFrameError(undefined, 'id is not a non-negative integer');
  const { ok, bin, value } = message;
  if (ok === false) {
    const { code, message: text } = message;
    if (typeof code !== 'string') return new BadFrameError(id, 'code is not a string');
    if (typeof text !== 'string') return new BadFrameError(id, 'message is not a string');
    if (binary !== undefined) return new BadFrameError(id, 'a binary tail on an error');
    return { id, ok: false, error: reviveError(code, text) };
  }
  if (ok !== true) return new BadFrameError(id, 'ok is not a boolean');
  if (bin === undefined) {
    if (binary !== undefined) return new BadFrameError(id, 'a binary tail without bin');
    return { id, ok: true, value }; // any JSON value: what the actor returned (absent for undefined)
  }
  if (bin === 'value') {
    if (value !== null) return new BadFrameError(id, 'value is not null although it is the binary tail');
    return { id, ok: true, value: binary ?? EMPTY };
  }
  if (bin === 'body') {
    if (!isObject(value) || value['body'] !== null) return new BadFrameError(id, 'value is not an object with a null body although its body is the binary tail');
    return { id, ok: true, value: { ...value, body: binary ?? EMPTY } };
  }
  return new BadFrameError(id, 'bin is not "value" or "body"');
}

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readId(message: Fields): number | undefined {
  const id = message['id'];
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

/** `req.params`: an object of strings. */
function isStrings(value: unknown): value is Record<string, string> {
  if (!isObject(value)) return false;
  for (const key in value) if (typeof value[key] !== 'string') return false;
  return true;
}

/** `req.query`, `req.headers`: an object of strings and lists of strings (repeated keys). */
function isStringsOrLists(value: unknown): value is Record<string, string | readonly string[]> {
  if (!isObject(value)) return false;
  for (const key in value) {
    const v = value[key];
    if (typeof v === 'string') continue;
    if (!Array.isArray(v)) return false;
    for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  }
  return true;
}
