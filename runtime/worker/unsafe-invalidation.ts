import type { Invalidation } from '../protocol/shapes.js';
import type { KeySource } from '../cache/keys.js';
import type { RouteCachePolicy } from '../cache/route-cache.js';
import { resolveDotSegments } from './path.js';
import { parseQuery } from './query.js';
import { paramsFor, type Router } from './router.js';

/** Methods that do not change what a GET of the same target returns (RFC 9110 section 9.2.1). */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * What a successful unsafe request makes stale (RFC 9111 section 4.4): the stored GET replies
 * of its target URI and of the URIs its reply's Location and Content-Location name, when they
 * are on the same host (a cache must not let one origin invalidate another's entries). Each
 * target is routed as a GET; every cached route it reaches renders its key for it.
 */
export function unsafeInvalidation(router: Router, policies: (route: number) => RouteCachePolicy | undefined, target: string, request: Headers,
  reply: Readonly<Record<string, string | readonly string[]>>): Invalidation | undefined {
  const keys: string[] = [];
  const host = request['host'];
  for (const t of [target, sameHost(reply['location'] ?? reply['Location'], host, target), sameHost(reply['content-location'] ?? reply['Content-Location'], host, target)]) {
    if (t === undefined) continue;
    const q = t.indexOf('?');
    const path = resolveDotSegments(q === -1 ? t : t.slice(0, q));
    if (path === undefined) continue;
    const found = router.lookup('GET', path);
    if (found.kind !== 'found') continue;
    const search = q === -1 ? '' : t.slice(q);
    const query = parseQuery(q === -1 ? '' : t.slice(q + 1));
    for (const route of found.candidates) {
      const policy = policies(route.config.index);
      if (policy === undefined) continue;
      const req: KeySource = { method: 'GET', path, url: path + search, params: paramsFor(route, found.params), query, headers: request };
      keys.push(policy.key(req));
    }
  }
  return keys.length === 0 ? undefined : { keys, prefixes: [] };
}

/** The path and query of a Location-like URI when it is relative or names `host`; undefined otherwise. */
function sameHost(value: string | readonly string[] | undefined, host: string | readonly string[] | undefined, target: string): string | undefined {
  const text = typeof value === 'string' ? value : value?.[0];
  if (text === undefined || text === '') return undefined;
  const base = `http://${typeof host === 'string' && host !== '' ? host : 'localhost'}`;
  let url: URL;
  try {
    url = new URL(text, base + target);
  } catch {
    return undefined;
  }
  if (url.host !== new URL(base).host) return undefined;
  return url.pathname + url.search;
}
