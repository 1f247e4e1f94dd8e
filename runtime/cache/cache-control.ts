/**
 * Parsing of the header fields an HTTP cache reads: Cache-Control (RFC 9111 section 5.2),
 * Surrogate-Control (W3C Edge Architecture 1.0), Age (section 5.1), Vary (RFC 9110 section
 * 12.5.5) and HTTP-dates (RFC 9110 section 5.6.7). Pure functions; header values are what
 * node:http or undici hand over (a string, or a list when the field came in several lines).
 */

/** A header field's value as node:http and undici give it. */
export type FieldValue = string | readonly string[] | undefined;

/** Directive name (lower case) -> its argument, or `true` for a directive without one. */
export type Directives = ReadonlyMap<string, string | true>;

const EMPTY: Directives = new Map();

/**
 * Parse a directive list (`max-age=60, private="set-cookie", no-store`). Names are
 * case-insensitive (section 5.2); arguments may be tokens or quoted strings, and a comma inside
 * a quoted string does not end a directive (`extension="max-age=3600", max-age=1` has one
 * max-age, 1). When a directive appears twice the first occurrence counts (section 4.2.1 allows
 * the first or treating the response as stale; the first is what the suite's peers do).
 */
export function parseDirectives(value: FieldValue): Directives {
  if (value === undefined) return EMPTY;
  const text = typeof value === 'string' ? value : value.join(',');
  if (text === '') return EMPTY;
  const out = new Map<string, string | true>();
  let i = 0;
  while (i < text.length) {
    // name
    let start = i;
    while (i < text.length && text[i] !== '=' && text[i] !== ',') i++;
    const name = text.slice(start, i).trim().toLowerCase();
    let arg: string | true = true;
    if (text[i] === '=') {
      i++;
      while (text[i] === ' ' || text[i] === '\t') i++;
      if (text[i] === '"') {
        i++;
        let quoted = '';
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          quoted += text[i];
          i++;
        }
        i++; // closing quote
        arg = quoted;
        while (i < text.length && text[i] !== ',') i++; // anything after the quoted string is ignored
      } else {
        start = i;
        while (i < text.length && text[i] !== ',') i++;
        arg = text.slice(start, i).trim();
      }
    }
    i++; // the comma
    if (name !== '' && !out.has(name)) out.set(name, arg);
  }
  return out;
}

/**
 * A delta-seconds argument (section 1.2.2): digits only; anything else (`'3600'`, `-1`, `1.5`,
 * no argument) is invalid and yields undefined, which callers treat as "already stale" (section
 * 4.2.1: a cache must treat an invalid freshness value as stale). Values past 2^31 are capped
 * there, as section 1.2.2 asks.
 */
export function deltaSeconds(arg: string | true | undefined): number | undefined {
  if (typeof arg !== 'string' || !/^\d+$/.test(arg)) return undefined;
  return Math.min(Number(arg), 2 ** 31);
}

/**
 * The directives of a Surrogate-Control field that apply to this cache: untargeted ones and
 * those targeted at `actorrt` (`max-age=60;actorrt`). Directives targeted at another device
 * (`max-age=60;cdn`) are ignored.
 */
export function surrogateDirectives(value: FieldValue): Directives {
  const all = parseDirectives(value);
  if (all.size === 0) return all;
  const out = new Map<string, string | true>();
  for (const [name, arg] of all) {
    if (typeof arg !== 'string' || !arg.includes(';')) {
      if (!out.has(name)) out.set(name, arg);
      continue;
    }
    const [own, target] = arg.split(';', 2) as [string, string];
    if (target.trim().toLowerCase() === 'actorrt' && !out.has(name)) out.set(name, own.trim());
  }
  return out;
}

/**
 * The Age field (section 5.1): one non-negative integer. Anything else (a list, a parameter, a
 * fraction, a negative number, two field lines) yields Infinity: the cache treats the response as
 * stale, as section 4.2.3 allows for a value it cannot trust. Absent: 0.
 */
export function ageSeconds(value: FieldValue): number {
  if (value === undefined) return 0;
  if (typeof value !== 'string') return value.length === 1 ? ageSeconds(value[0]) : Infinity;
  const text = value.trim();
  return /^\d+$/.test(text) ? Number(text) : Infinity;
}

/** An HTTP-date (or any date Date.parse understands, as recipients are asked to be lenient) in ms; undefined when invalid. */
export function httpDate(value: FieldValue): number | undefined {
  const text = typeof value === 'string' ? value : value?.[0];
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The field names a Vary value lists, lower case, in order, without duplicates; `['*']` when it
 * contains `*` (a response that varies on something outside the request: it never matches).
 */
export function varyNames(value: FieldValue): readonly string[] {
  if (value === undefined) return [];
  const text = typeof value === 'string' ? value : value.join(',');
  const names: string[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (name === '*') return ['*'];
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * The lower-case tokens of a comma-separated list field (Connection, Upgrade; RFC 9110 section
 * 5.6.1), empty when the field is absent.
 */
export function fieldTokens(value: FieldValue): Set<string> {
  const text = fieldText(value);
  if (text === undefined) return new Set();
  return new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));
}

/** A field's value as one string (lines joined with `, `, as RFC 9110 section 5.3 combines them). */
export function fieldText(value: FieldValue): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}
