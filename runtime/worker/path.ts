/**
 * Dot segments (`.`, `..`, and their percent-encoded forms `%2e`, `%2E`) resolved in a request
 * path before it is routed or forwarded (RFC 3986 section 5.2.4), so a route's prefix is a
 * boundary: `GET /files/../admin` is routed as `/admin`, and a path that climbs above the root is
 * refused, as is a segment hiding `..` behind an encoded slash or a backslash. Returns the path unchanged (same string) when it has no dot segment: the common case
 * costs one scan.
 */
export function resolveDotSegments(path: string): string | undefined {
  if (!mayHaveDots(path)) return path;
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const plain = segment.replace(/%2e/gi, '.');
    const last = i === segments.length - 1;
    if (plain === '.') {
      if (last) out.push('');
      continue;
    }
    if (plain === '..') {
      // The leading '' (before the first '/') is the root: climbing past it is refused.
      if (out.length <= 1) return undefined;
      out.pop();
      if (last) out.push('');
      continue;
    }
    // `..%2f..%2fetc` or `..\..\etc` is one segment here, but an upstream that decodes %2F or
    // takes `\` for a separator would climb with it: refused, like a plain `..` above the root.
    if (hiddenDots(plain)) return undefined;
    out.push(segment);
  }
  return out.join('/');
}

function hiddenDots(plain: string): boolean {
  const pieces = plain.replace(/%2f|%5c/gi, '/').split(/[/\\]/);
  return pieces.length > 1 && pieces.some((p) => p === '.' || p === '..');
}

function mayHaveDots(path: string): boolean {
  return path.includes('/.') || path.includes('\\') || (path.includes('%') && /%2e|%2f|%5c/i.test(path));
}

/**
 * The path the router matches when `path` holds percent-encoded bytes that are not UTF-8
 * (`/files/%FF`, a Latin-1 file name): the router decodes paths as UTF-8 and finds nothing for
 * them. In each segment that does not decode, every escape of a byte past 0x7F becomes `%25XX`,
 * so that segment is taken by a parameter or wildcard (as the text `%FF`) and by nothing static.
 * Only proxy routes take such a path (they forward the raw one; an actor gets text). Undefined
 * when the path has a malformed escape (`%zz`, a lone `%`): no percent-encoding at all (RFC 3986
 * section 2.1).
 */
export function routableBytes(path: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return undefined;
  return path.split('/').map((segment) => (decodable(segment) ? segment : segment.replace(/%([89A-Fa-f][0-9A-Fa-f])/g, '%25$1'))).join('/');
}

/** Whether `text`'s percent-escapes decode as UTF-8. */
export function decodable(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
