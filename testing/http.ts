import type { Response } from 'light-my-request';

/** A request as a test sends it. */
export interface TestRequest {
  /** GET unless given. */
  readonly method?: string;
  /** The path and query, as a client sends it: `/notes/7`, `/notes?limit=2`. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string | string[]>>;
  /** An object or array: sent as JSON (content-type: application/json unless a header says otherwise); a string or Buffer: as it is. */
  readonly body?: unknown;
  /** The client's address as the socket would report it (default 127.0.0.1): what `req.ip` and `http.trustProxy` see. */
  readonly remoteAddress?: string;
}

/** A reply as the client would see it. */
export interface TestResponse<Body = unknown> {
  readonly status: number;
  /** Header names in lower case, as node:http gives them to a client. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * The body, parsed by its content type: JSON (application/json, +json) as a value, text/* as a
   * string, anything else as a Buffer; undefined when there is none (HEAD, 204, 304, empty).
   */
  readonly body: Body;
  /** The body as text (UTF-8), '' when there is none. */
  readonly text: string;
  /** The body's bytes as sent. */
  readonly bytes: Buffer;
}

export function toResponse<Body>(res: Response, method: string): TestResponse<Body> {
  const bytes = res.rawPayload;
  const headers = res.headers as Record<string, string | string[] | undefined>;
  return { status: res.statusCode, headers, body: parseBody(bytes, headers['content-type'], method) as Body, text: bytes.toString('utf8'), bytes };
}

function parseBody(bytes: Buffer, type: string | string[] | undefined, method: string): unknown {
  if (bytes.length === 0 || method === 'HEAD') return undefined;
  const mime = (Array.isArray(type) ? type[0] : type)?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (mime === 'application/json' || mime.endsWith('+json')) return JSON.parse(bytes.toString('utf8')) as unknown;
  if (mime.startsWith('text/')) return bytes.toString('utf8');
  return bytes;
}
