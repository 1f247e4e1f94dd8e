/**
 * The HTTP methods OpenTelemetry's HTTP conventions name as they are (`http.request.method`); any
 * other is `_OTHER`. Metrics label requests the same way, so a client sending made-up methods
 * cannot grow a label's cardinality or a span attribute's.
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'QUERY']);

/** `method` if it is a known HTTP method, else `_OTHER`. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}
