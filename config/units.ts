/**
 * Durations and sizes as users write them (`250ms`, `10s`, `1mb`). Plain numbers keep their
 * documented unit: milliseconds for durations, bytes for sizes.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)$/i;

const MS_PER: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTES_PER: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };


/** Milliseconds for a duration value, or undefined when it is not a valid duration. */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = DURATION.exec(value.trim());
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (MS_PER[m[2] as string] as number));
}

/** Bytes for a size value, or undefined when it is not a valid size. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (m === null) return undefined;
  return Math.floor(Number(m[1]) * (BYTES_PER[(m[2] as string).toLowerCase()] as number));
}
