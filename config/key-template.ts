/**
 * Cache key templates such as `user:{params.id}` or `list:{query.page}`. Parsed once at load;
 * the cache layer renders them per request.
 */
export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'field'; readonly source: 'params' | 'query' | 'headers' | 'body'; readonly name: string }
  | { readonly kind: 'request'; readonly name: 'method' | 'path' | 'url' };

const FIELD = /^(params|query|headers?|body)\.([A-Za-z0-9_-]+)$/;

/** Parse a key template; returns an error sentence when a placeholder is malformed. */
export function parseKeyTemplate(template: string): readonly TemplatePart[] | { error: string } {
  const parts: TemplatePart[] = [];
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('{');
    const close = rest.indexOf('}');
    if (open === -1) {
      if (close !== -1) return { error: 'has a "}" without its "{"' };
      parts.push({ kind: 'text', text: rest });
      break;
    }
    if (open > 0) parts.push({ kind: 'text', text: rest.slice(0, open) });
    const end = rest.indexOf('}', open);
    if (end === -1) return { error: 'has a "{" without its "}"' };
    const inner = rest.slice(open + 1, end).trim();
    if (inner === 'method' || inner === 'path' || inner === 'url') {
      parts.push({ kind: 'request', name: inner });
    } else {
      const m = FIELD.exec(inner);
      if (m === null) return { error: `placeholder "{${inner}}" is not one of {params.x}, {query.x}, {header.x}, {body.x}, {method}, {path}, {url}` };
      // {header.x} and {headers.x} are the same; header names are case-insensitive.
      const source = m[1] === 'header' ? 'headers' : m[1] as 'params' | 'query' | 'headers' | 'body';
      parts.push({ kind: 'field', source, name: source === 'headers' ? (m[2] as string).toLowerCase() : m[2] as string });
    }
    rest = rest.slice(end + 1);
  }
  return parts;
}
