import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS dependency required the first time it is used, not when the importing module loads:
 * libraries most processes never call (proxy-addr without trustProxy lists, prom-client outside the
 * primary's scrape, @opentelemetry/api without an SDK) cost 7-30 ms of CPU each at every start
 * (measured, docs/benchmarks.md cold start). Required in place, so callers stay synchronous.
 * `T` is the module's type (`typeof import('...')`), stated once by the caller.
 */
export function whenUsed<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(id) as T);
}
