/**
 * Field checks for data that arrives from another process: each returns the value with its type
 * proven, or throws a BadField naming the path and what was expected. Decoders are written with
 * these once per message type, so nothing past a boundary is cast.
 */

/** A field of a message from another process is missing or of the wrong type. */
export class BadField extends Error {
  constructor(readonly path: string, expected: string, got: unknown) {
    super(`${path}: expected ${expected}, got ${describe(got)}`);
    this.name = 'BadField';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? 'a long string' : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v === 'undefined' ? 'nothing' : `a value of type ${typeof v}`;
}

export type Fields = Readonly<Record<string, unknown>>;

/** A plain object (not null, not an array). */
export function record(v: unknown, path: string): Fields {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadField(path, 'an object', v);
  return v as Fields; // proven above: an object; its fields are each checked by the callers
}

export function str(o: Fields, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new BadField(`${path}.${key}`, 'a string', v);
  return v;
}

export function optStr(o: Fields, key: string, path: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, path);
}

/** A safe integer >= 0 (ids, counts, indexes, byte counts, descriptors, ports). */
export function count(o: Fields, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BadField(`${path}.${key}`, 'an integer >= 0', v);
  return v;
}

/** A finite number >= 0 (durations in ms). */
export function nonNegative(o: Fields, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BadField(`${path}.${key}`, 'a finite number >= 0', v);
  return v;
}

export function bool(o: Fields, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new BadField(`${path}.${key}`, 'true or false', v);
  return v;
}

export function oneOf<T extends string>(o: Fields, key: string, values: readonly T[], path: string): T {
  const v = o[key];
  const found = values.find((x) => x === v);
  if (found === undefined) throw new BadField(`${path}.${key}`, `one of ${values.join(', ')}`, v);
  return found;
}

export function list<T>(o: Fields, key: string, path: string, item: (v: unknown, path: string) => T): T[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new BadField(`${path}.${key}`, 'an array', v);
  return v.map((x: unknown, i) => item(x, `${path}.${key}[${i}]`));
}

export function optList<T>(o: Fields, key: string, path: string, item: (v: unknown, path: string) => T): T[] | undefined {
  return o[key] === undefined ? undefined : list(o, key, path, item);
}

/** An object used as a map: every value checked by `item`. */
export function mapOf<T>(o: Fields, key: string, path: string, item: (v: unknown, path: string) => T): Record<string, T> {
  const m = record(o[key], `${path}.${key}`);
  // fromEntries defines own properties: a key named __proto__ stays a key, never the prototype.
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, item(v, `${path}.${key}.${k}`)]));
}

/** Item checkers for list / mapOf. */
export const item = {
  str(v: unknown, path: string): string {
    if (typeof v !== 'string') throw new BadField(path, 'a string', v);
    return v;
  },
  strs(v: unknown, path: string): string[] {
    if (!Array.isArray(v)) throw new BadField(path, 'an array of strings', v);
    return v.map((x: unknown, i) => item.str(x, `${path}[${i}]`));
  },
};
