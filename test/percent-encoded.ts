import fc from 'fast-check';
import { resolveDotSegments } from '../runtime/worker/path.js';

/** Characters a path segment may carry unencoded (RFC 3986 section 3.3 pchar, less `%`). */
const PCHAR = new Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@");

/**
 * Arbitrary bytes (UTF-8 or not, NUL and `%` included) as a client may percent-encode them in one
 * path segment, or with `slash` in several: each byte a segment may carry raw is sent raw or
 * encoded, any other encoded, in upper or lower case hex. Dot segments and empty segments are left
 * out: the first are resolved before forwarding, the second match no parameter.
 */
export function percentEncoded(slash: boolean): fc.Arbitrary<string> {
  const oneByte = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean(), fc.boolean()).map(([byte, raw, upper]) => {
    const char = String.fromCharCode(byte);
    if (raw && (PCHAR.has(char) || (slash && char === '/'))) return char;
    const hex = byte.toString(16).padStart(2, '0');
    return `%${upper ? hex.toUpperCase() : hex}`;
  });
  return fc.array(oneByte, { minLength: 1, maxLength: 24 }).map((parts) => parts.join(''))
    .filter((part) => part.split('/').every((seg) => seg !== '') && resolveDotSegments(`/x/${part}`) === `/x/${part}`);
}
