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
  const d = distance(input, best);
  // Two edits apart is a lot for a short word: only when it starts the same (`strat` -> `start`, not `monit` -> `init`).
  const plausible = d <= limit && (d < 2 || best.length > 6 || best[0]?.toLowerCase() === lower[0]);
  return plausible ? `did you mean "${best}"?` : undefined;
}
