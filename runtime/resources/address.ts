import type { ResourceConfig } from '../../config/types.js';

/**
 * Where a resource lives, safe to print: passwords never reach a log line or an error message,
 * whether they came inline in a URL or from `${env:...}`.
 */

/** `scheme://user@host:port/path`: any password is dropped, query parameters too (they may carry one). */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    url.password = '';
    url.search = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    // Not a URL: strip anything that looks like `user:password@` rather than print it.
    return raw.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1@').replace(/\?.*$/, '');
  }
}

/** The redacted address of a resource, as error messages and logs show it. */
export function describeAddress(resource: ResourceConfig): string {
  switch (resource.type) {
    case 'sqlite':
      return `sqlite:${resource.file}`;
    case 'postgres': {
      if (resource.url !== undefined) return redactUrl(resource.url);
      const user = resource.user === undefined ? '' : `${resource.user}@`;
      return `postgres://${user}${resource.host ?? 'localhost'}:${resource.port ?? 5432}/${resource.database ?? ''}`;
    }
    case 'redis':
      return redactUrl(resource.url);
    case 'http':
      return resource.origins.map(redactUrl).join(', ');
  }
}

/** Remove every occurrence of the resource's secrets from a message a driver produced. */
export function scrub(message: string, resource: ResourceConfig): string {
  const secrets: string[] = [];
  if (resource.type === 'postgres') {
    if (resource.password !== undefined && resource.password !== '') secrets.push(resource.password);
    if (resource.url !== undefined) secrets.push(...passwordOf(resource.url));
  } else if (resource.type === 'redis') {
    secrets.push(...passwordOf(resource.url));
  }
  let out = message;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

function passwordOf(raw: string): string[] {
  try {
    const password = new URL(raw).password;
    return password === '' ? [] : [password, decodeURIComponent(password)];
  } catch {
    return [];
  }
}
