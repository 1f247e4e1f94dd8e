/**
 * A query string as an actor sees it (`req.query`): each name once, repeated names as a list.
 * Null-prototype, as node's querystring and fastify give: `?constructor=x` is the string "x",
 * not Object's constructor, and `?__proto__=x` is a value like any other.
 */
export function parseQuery(qs: string): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URLSearchParams(qs)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
