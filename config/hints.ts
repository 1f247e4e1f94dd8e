import { closest, distance } from 'fastest-levenshtein';

/**
 * "did you mean ...?" for a misspelt name: the closest candidate, offered only when it is close
 * enough to be a plausible typo (so `sise` suggests `size`, but `banana` suggests nothing).
 */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  if (list.length === 0) return undefined;
  const lower = input.toLowerCase();
  const sameCase = list.find((c) => c.toLowerCase() === lower);
  if (sameCase !== undefined) return `did you mean "${sameCase}"?`;
  const best = closest(input, list);
  const limit = Math.max(2, Math.floor(Math.max(input.length, best.length) / 3));
  return distance(input, best) <= limit ? `did you mean "${best}"?` : undefined;
}
