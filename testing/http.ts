import { METHODS, validateHeaderName, validateHeaderValue } from 'node:http';
import type { InjectOptions, Response } from 'light-my-request';
import { ActorrtError } from '../runtime/errors.js';

/** A request as a test sends it. */
export interface TestRequest {
  /** GET unless given; one of node:http's methods (http.METHODS), as `actorrt start` accepts. */
  readonly method?: string | undefined;
  /** The path and query, as a client sends it: `/notes/7`, `/notes?limit=2`. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * JSON data (an object, array, number, boolean, null): sent as JSON, content-type
   * application/json unless a header says otherwise. A string, Buffer, Uint8Array or ArrayBuffer:
   * sent as it is.
   */
  readonly body?: unknown;
  /** The client's address as the socket would report it (default 127.0.0.1): what `req.ip` and `http.trustProxy` see. */
  readonly remoteAddress?: string | undefined;
}

/** A reply as the client would see it. */
export interface TestResponse<Body = unknown> {
  readonly status: number;
  /** Header names in lower case, as node:http gives them to a client. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * The body, parsed by its content type: JSON (application/json, +json) as a value, text/* as a
   * string, anything else as a Buffer; undefined when there is none (HEAD, 204, 304, empty). A
   * part (206) or a body that is not the JSON its type says is the text.
   */
  readonly body: Body;
  /** The body as text (UTF-8), '' when there is none. */
  readonly text: string;
  /** The body's bytes as sent. */
  readonly bytes: Buffer;
}

const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);
/** What no request line can carry: node:http's parser answers 400 to it. */
const NOT_IN_A_REQUEST_LINE = /[\s\u0000-\u001f\u007f]/;

function refuse(what: string, hint?: string): ActorrtError {
  return new ActorrtError('ACTORRT_E_TEST_KIT', `request(): ${what}`, hint === undefined ? {} : { hint });
}

/**
 * What light-my-request is given for `req`, checked as a client and node:http would check it: a
 * request no socket could carry is refused here, naming the field, rather than answered in a way
 * `actorrt start` never would.
 */
export function injectOptions(req: TestRequest | undefined): InjectOptions & {
  method: NonNullable<InjectOptions['method']>; headers: Record<string, string | string[]>; payload?: string | Buffer;
} {
  if (req === null || typeof req !== 'object') throw refuse(`expected { method, url, headers, body }, got ${req === null ? 'null' : typeof req}`);
  const { url, method = 'GET', headers = {}, body, remoteAddress } = req;
  if (typeof url !== 'string' || !url.startsWith('/')) throw refuse(`url must be a path starting with /, got ${JSON.stringify(url)}`, 'the path and query as a client sends them: /notes?limit=2');
  if (NOT_IN_A_REQUEST_LINE.test(url)) throw refuse(`url ${JSON.stringify(url)} has a space or control character, which no request line carries`, 'percent-encode it (%20)');
  if (typeof method !== 'string' || !KNOWN_METHODS.has(method)) {
    throw refuse(`method ${JSON.stringify(method)} is not one node:http accepts`, 'use one of http.METHODS (GET, POST, ...; upper case): actorrt start answers any other with 400 before routing');
  }
  if (headers === null || typeof headers !== 'object') throw refuse('headers must be an object of header names to values');
  const sent: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    try {
      validateHeaderName(name);
      for (const v of Array.isArray(value) ? value : [value]) validateHeaderValue(name, v);
    } catch (err) {
      throw refuse(`header ${JSON.stringify(name)}: ${(err as Error).message}`);
    }
    sent[name.toLowerCase()] = Array.isArray(value) ? [...value as readonly string[]] : String(value);
  }
  if (remoteAddress !== undefined && typeof remoteAddress !== 'string') throw refuse('remoteAddress must be a string (an IP address)');
  const payload = payloadOf(body);
  if (payload?.json === true && sent['content-type'] === undefined) sent['content-type'] = 'application/json';
  return {
    // Checked against http.METHODS above; light-my-request's type lists only the common ones.
    method: method as NonNullable<InjectOptions['method']>, url, headers: sent, remoteAddress: remoteAddress ?? '127.0.0.1',
    ...(payload === undefined ? {} : { payload: payload.bytes }),
  };
}

function payloadOf(body: unknown): { bytes: string | Buffer; json: boolean } | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return { bytes: body, json: false };
  if (body instanceof ArrayBuffer) return { bytes: Buffer.from(body), json: false };
  if (ArrayBuffer.isView(body)) return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength), json: false };
  if (!isJsonData(body)) {
    throw refuse(`body is ${describe(body)}, which is neither JSON data nor bytes`, 'send an object, array, number, boolean or null (as JSON), or a string / Buffer / Uint8Array (as it is)');
  }
  try {
    return { bytes: JSON.stringify(body), json: true };
  } catch (err) {
    throw refuse(`body has no JSON form: ${(err as Error).message}`);
  }
}

/** JSON data at the top: what JSON.stringify writes as it is (a class instance, a Map, a stream would lose what they hold). */
function isJsonData(value: unknown): boolean {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return true;
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return `a ${typeof value}`;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? `a ${name}` : 'an object';
}

export function toResponse<Body>(res: Response, method: string): TestResponse<Body> {
  const bytes = res.rawPayload;
  const headers = res.headers as Record<string, string | string[] | undefined>;
  return { status: res.statusCode, headers, body: parseBody(bytes, headers['content-type'], method, res.statusCode) as Body, text: bytes.toString('utf8'), bytes };
}

/** A reply body as the kit hands it to a test (see TestResponse.body). */
export function parseBody(bytes: Buffer, type: string | string[] | undefined, method: string, status: number): unknown {
  if (bytes.length === 0 || method === 'HEAD') return undefined;
  const mime = (Array.isArray(type) ? type[0] : type)?.split(';')[0]?.trim().toLowerCase() ?? '';
  const text = mime.startsWith('text/') || mime === 'application/json' || mime.endsWith('+json');
  if (!text) return bytes;
  const utf8 = bytes.toString('utf8');
  if (status === 206 || mime.startsWith('text/')) return utf8;
  try {
    return JSON.parse(utf8) as unknown;
  } catch {
    return utf8; // what the server sent is not the JSON its type says: the test sees it as it is
  }
}
