/** What the router needs to know of a path pattern such as `/users/:id` or `/files/*`. */
export interface PathPattern {
  /** Named parameters in order (`*` is reported as the parameter "*"). */
  readonly params: readonly string[];
  /** The pattern with parameter names erased, so `/u/:id` and `/u/:key` compare equal. */
  readonly shape: string;
}

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)$/;

/** Parse a route path pattern; returns an error sentence when it is not one the router accepts. */
export function parsePathPattern(path: string): PathPattern | { error: string } {
  if (!path.startsWith('/')) return { error: 'must start with "/"' };
  if (path.includes('//')) return { error: 'contains an empty segment ("//")' };
  if (/[?#]/.test(path)) return { error: 'must not contain "?" or "#"; match query parameters with match.query' };
  const segments = path.split('/').slice(1);
  const params: string[] = [];
  const shape: string[] = [];
  for (const [i, seg] of segments.entries()) {
    if (seg === '*') {
      if (i !== segments.length - 1) return { error: 'a "*" wildcard may only be the last segment' };
      params.push('*');
      shape.push('*');
    } else if (seg.startsWith(':')) {
      const m = PARAM.exec(seg);
      if (m === null) return { error: `"${seg}" is not a valid parameter; use ":name" with letters, digits and "_"` };
      const name = m[1] as string;
      if (params.includes(name)) return { error: `parameter ":${name}" appears twice` };
      params.push(name);
      shape.push(':');
    } else if (seg.includes('*') || seg.includes(':')) {
      return { error: `segment "${seg}" mixes text with ":" or "*"; parameters and wildcards take a whole segment` };
    } else {
      shape.push(seg);
    }
  }
  return { params, shape: `/${shape.join('/')}` };
}
