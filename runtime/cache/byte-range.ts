import type { FieldValue } from './cache-control.js';

/** An inclusive byte range of a representation (RFC 9110 section 14.1.2). */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The one byte range a `Range` field asks of a representation of `size` bytes: `bytes=a-b`,
 * `bytes=a-` or `bytes=-n` (RFC 9110 section 14.1.2). `unsatisfiable` when it starts past the end
 * (a 416, section 15.5.17); undefined when the field is anything else (several ranges, another
 * unit, a malformed value), which the cache leaves to the origin.
 */
export function singleRange(value: FieldValue, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (m === null) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return undefined; // invalid: ignored, the whole representation is the answer
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
