import type { SupervisionStrategy } from '../../config/types.js';

/** Restart policy as data (OTP's intensity and period, plus backoff). */
export interface RestartPolicy {
  readonly strategy: SupervisionStrategy;
  readonly maxRestarts: number;
  readonly within: number;
  readonly backoff: { readonly min: number; readonly max: number };
}

/** What to do about one failure. */
export type Decision =
  | { readonly action: 'restart-one' | 'restart-all'; readonly delay: number; readonly count: number }
  | { readonly action: 'stop'; readonly count: number }
  | { readonly action: 'escalate'; readonly reason: string; readonly count: number };

/**
 * Decide what a failure leads to, from the policy, the times of earlier restarts and now. Pure:
 * no clocks, no processes, so every branch is tested directly. `history` holds restart times
 * (ms); the caller appends `now` when the decision is a restart. `random` in [0, 1) adds jitter.
 */
export function decide(policy: RestartPolicy, history: readonly number[], now: number, random = Math.random()): Decision {
  const recent = history.filter((t) => now - t < policy.within);
  const count = recent.length + 1;
  if (policy.strategy === 'stop') return { action: 'stop', count };
  if (policy.strategy === 'escalate') return { action: 'escalate', reason: 'strategy is escalate', count };
  if (count > policy.maxRestarts) {
    return { action: 'escalate', reason: `more than ${policy.maxRestarts} restarts within ${policy.within} ms`, count };
  }
  return {
    action: policy.strategy === 'one-for-all' ? 'restart-all' : 'restart-one',
    delay: backoffDelay(policy.backoff, recent.length, random),
    count,
  };
}

/**
 * Front workers (OTP's permanent children that must keep a serving instance serving): a worker that
 * served and then died (the OOM killer, an operator, a crash under load) is always restarted, with
 * a backoff that grows with the restarts within the window and resets once none happened for that
 * long (Akka's backoff autoReset). Only starts that fail, `failedStarts` in a row, lead to giving up.
 */
export function decideKeepServing(policy: RestartPolicy, history: readonly number[], now: number, failedStarts: number, random = Math.random()): Decision {
  const recent = history.filter((t) => now - t < policy.within);
  const count = recent.length + 1;
  if (failedStarts > policy.maxRestarts) {
    return { action: 'escalate', reason: `${failedStarts} starts in a row failed (more than ${policy.maxRestarts})`, count };
  }
  return { action: 'restart-one', delay: backoffDelay(policy.backoff, recent.length, random), count };
}

/**
 * Exponential backoff with "equal jitter": the first restart in a window is immediate, the n-th
 * waits between half and all of min * 2^(n-1), capped at max. Immediate first restarts keep a
 * one-off crash cheap; jitter keeps many actors from restarting in lock-step.
 */
export function backoffDelay(backoff: { readonly min: number; readonly max: number }, previous: number, random: number): number {
  if (previous === 0) return 0;
  const ceiling = Math.min(backoff.max, backoff.min * 2 ** (previous - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** Drop history entries that can no longer count (keeps the array bounded). */
export function prune(history: number[], now: number, within: number): void {
  while (history.length > 0 && now - (history[0] as number) >= within) history.shift();
}
