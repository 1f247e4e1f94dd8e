import type { AutoscaleConfig, AutoscaleStep } from '../../config/types.js';

/**
 * The autoscaler's decision, a pure function: (policy, samples over time, now, what it decided
 * before) -> the size the pool should have and why. It reads no clock and changes nothing;
 * runtime/autoscale/autoscaler.ts feeds it samples and carries its decisions out through the
 * reload queue. Unit-tested against synthetic traces (test/runtime/autoscale-decide.test.ts).
 *
 * How it decides (docs/autoscaling.md):
 * - Each sample says how many units the pool would need to hold the signal at its target
 *   (Kubernetes' HPA rule: `size x observed / target`).
 * - Up: every sample of the last `up.window` wants more than size x (1 + tolerance); the pool grows
 *   to the least of them, by at most `up.step`. Down: every sample of the last `down.window` wants
 *   less than size x (1 - tolerance); it shrinks to the most of them, by at most `down.step` (HPA's
 *   scale-down stabilisation). Windows only count samples taken at the current size, after it took
 *   effect: a window is also the cooldown after a change.
 * - A growth must pay: when the signal still calls for more after a growth, the throughput at the
 *   new size is compared with the throughput before it. If the units added earned less than a
 *   quarter of what each unit earned before (the cores are used up, a dependency is saturated), the
 *   pool goes back to the size before and holds there: that is its useful size (a ceiling, kept
 *   for CEILING_HOLD_MS). More in-flight without more throughput never grows a pool without bound.
 * - A memory shortage (the host's, or a process of the pool near its memory bound) stops growth.
 */

/** The topology's autoscale block with `max` resolved. */
export interface Policy extends Omit<AutoscaleConfig, 'max'> {
  readonly max: number;
}

/** The pool's load over one sampling interval, summed over every process that runs it. */
export interface Sample {
  /** When the span ended, in milliseconds on the same clock as `now`. */
  readonly at: number;
  /** Milliseconds the sample covers. */
  readonly span: number;
  /** The pool's size, in its unit, during the whole span. */
  readonly size: number;
  /** Actors taking messages (every process that answered). */
  readonly actors: number;
  /** Requests queued or running, averaged over the span. */
  readonly inflight: number;
  /** Actors handling a message, averaged over the span. */
  readonly busy: number;
  /** Requests the pool finished within the span. */
  readonly completed: number;
  /** Why growth must wait for memory (the host or a process of the pool is short of it); absent: no shortage. */
  readonly memoryShort?: string;
}

/** What the decision remembers between calls (start with `initialState`). */
export interface ScalerState {
  /** The size the pool has. */
  readonly size: number;
  /** When that size took effect (ms); windows count only samples taken after it. */
  readonly since: number;
  /** The last growth, not yet shown to pay: the size before it and the throughput there (requests/s). */
  readonly grew?: { readonly from: number; readonly rate: number };
  /** The useful size measured: growing past it added no throughput (`rate` requests/s at it), as of `at` (ms). */
  readonly ceiling?: { readonly size: number; readonly rate: number; readonly at: number; readonly above: number; readonly aboveRate: number };
}

export interface Decision {
  /** The size the pool should have: equal to `state.size` for a hold. */
  readonly size: number;
  readonly direction: 'up' | 'down' | 'hold';
  /** One line, for status and the log: the signal, what it called for, what bounded the change. */
  readonly reason: string;
  /** The signal per actor over the latest up window; absent before the first sample at this size. */
  readonly signal?: number;
  /** Requests finished per second over the latest up window. */
  readonly rate?: number;
  /** What to pass to the next call (its `size` and `since` are updated by the caller once a change took effect: see `applied`). */
  readonly state: ScalerState;
}

/** How long a measured useful size holds before growth past it is tried again (conditions change: another process leaves the cores). */
export const CEILING_HOLD_MS = 10 * 60_000;
/** Least share of the per-unit throughput the units added by a growth must earn for it to count as useful. */
export const USEFUL_SHARE = 0.25;

export function initialState(size: number, now: number): ScalerState {
  return { size, since: now };
}

/** The state once a decided change took effect at `at` (the reload queue applied it). */
export function applied(decision: Decision, at: number): ScalerState {
  return { ...decision.state, size: decision.size, since: at };
}

/** The signal of one sample, per actor. */
export function perActor(policy: Pick<Policy, 'signal'>, s: Sample): number {
  return (policy.signal === 'inflight' ? s.inflight : s.busy) / s.actors;
}

export function decide(policy: Policy, samples: readonly Sample[], now: number, state: ScalerState): Decision {
  const current = state.size;
  const hold = (reason: string, extra: Partial<Pick<Decision, 'signal' | 'rate'>> = {}, next: ScalerState = state): Decision =>
    ({ size: current, direction: 'hold', reason, ...extra, state: next });
  if (current < policy.min) return { size: policy.min, direction: 'up', reason: `below min (${policy.min})`, state: { size: current, since: state.since } };
  if (current > policy.max) return { size: policy.max, direction: 'down', reason: `above max (${policy.max})`, state: { size: current, since: state.since } };
  const usable = samples.filter((s) => s.size === current && s.actors > 0 && s.span > 0 && s.at - s.span >= state.since && s.at <= now);
  if (usable.length === 0) return hold(`waiting for samples at size ${current}`);
  const upWindow = windowOf(usable, now, policy.up.window);
  const signal = average(upWindow, (s) => perActor(policy, s));
  const rate = rateOf(upWindow);
  const reading = { signal, rate };
  const want = (s: Sample): number => (s.size * perActor(policy, s)) / policy.target;
  const said = `${policy.signal} ${round(signal)} per actor (target ${policy.target})`;

  if (covers(usable, now, policy.up.window, policy.interval)) {
    const least = Math.min(...upWindow.map(want));
    const grew = state.grew;
    /** Back to the size before a growth that did not pay, held there as the useful size. */
    const back = (g: NonNullable<ScalerState['grew']>, why: string): Decision => ({
      size: g.from, direction: 'down', ...reading,
      reason: `${why}, but throughput did not grow from ${g.from} to ${current} (${round(g.rate)} -> ${round(rate)} req/s): back to ${g.from}, its useful size`,
      state: { size: current, since: state.since, ceiling: { size: g.from, rate: g.rate, at: now, above: current, aboveRate: rate } },
    });
    if (least <= current * (1 + policy.tolerance)) {
      // The signal is back within the target: the growth paid, unless nothing was answered in time
      // before nor after it. Then the added actors only soak up requests stuck on a hung dependency.
      if (grew !== undefined && grew.rate <= 0 && rate <= 0) return back(grew, `${said} with nothing answered in time`);
      state = withoutGrowth(state);
    } else {
      // The whole window decides whether to grow; its recent half how much: the sample that
      // straddles a load step is partly from before it and would take two changes to reach the size.
      const recent = Math.min(...windowOf(usable, now, policy.up.window / 2).map(want));
      const wanted = Math.ceil(Math.max(least, recent));
      if (current >= policy.max) return hold(`${said} calls for ${wanted}; at max (${policy.max})`, reading, state);
      const short = upWindow[upWindow.length - 1]?.memoryShort;
      if (short !== undefined) return hold(`${said} calls for ${wanted}; growth waits: ${short}`, reading, state);
      const ceiling = state.ceiling;
      if (ceiling !== undefined && now - ceiling.at < CEILING_HOLD_MS && ceiling.size <= current) {
        const retry = Math.ceil((CEILING_HOLD_MS - (now - ceiling.at)) / 60_000);
        return hold(`${said} calls for ${wanted}; holding at the useful size ${ceiling.size} (at ${ceiling.above}, throughput ${round(ceiling.aboveRate)} req/s against ${round(ceiling.rate)}); tries growing again in ${retry} min`, reading, state);
      }
      if (grew !== undefined && !paid(grew, current, rate)) return back(grew, `${said} still calls for more`);
      // Below a useful size measured recently: grow up to it, not past it (that was measured not to pay).
      const cap = ceiling !== undefined && now - ceiling.at < CEILING_HOLD_MS ? Math.min(policy.max, ceiling.size) : policy.max;
      const to = Math.min(cap, grown(current, wanted, policy.up.step));
      const bounds = to < wanted ? (to === policy.max ? `, max ${policy.max}` : to === cap ? `, the useful size measured` : `, step ${stepText(policy.up.step)}`) : '';
      return {
        size: to, direction: 'up', ...reading,
        reason: `${policy.signal} at least ${round((wanted * policy.target) / current)} per actor over ${seconds(policy.up.window / 2)} (target ${policy.target}, above it for ${seconds(policy.up.window)}) calls for ${wanted}${bounds}`,
        state: { size: current, since: state.since, grew: { from: current, rate }, ...(state.ceiling === undefined ? {} : { ceiling: state.ceiling }) },
      };
    }
  }

  if (covers(usable, now, policy.down.window, policy.interval)) {
    const downWindow = windowOf(usable, now, policy.down.window);
    const highest = Math.max(...downWindow.map(want));
    if (highest < current * (1 - policy.tolerance)) {
      // As for growth: the whole window decides whether, its recent half how far.
      const most = Math.max(...windowOf(usable, now, policy.down.window / 2).map(want));
      const wanted = Math.max(policy.min, Math.ceil(most));
      const to = Math.max(wanted, shrunk(current, policy.down.step));
      if (to < current) {
        const bounds = wanted === policy.min && Math.ceil(most) < policy.min ? `, min ${policy.min}` : to > wanted ? `, step ${stepText(policy.down.step)}` : '';
        return {
          size: to, direction: 'down', ...reading,
          reason: `${policy.signal} at most ${round((most * policy.target) / current)} per actor over ${seconds(policy.down.window / 2)} (target ${policy.target}, below it for ${seconds(policy.down.window)}) calls for ${Math.ceil(most)}${bounds}`,
          state: withoutGrowth(state),
        };
      }
    }
  }
  return hold(`${said}`, reading, state);
}

function withoutGrowth(state: ScalerState): ScalerState {
  if (state.grew === undefined) return state;
  const { grew: _, ...rest } = state;
  return rest;
}

/** Whether growing from `grew.from` to `size` paid: the units added earned at least USEFUL_SHARE of what each unit earned before. */
function paid(grew: NonNullable<ScalerState['grew']>, size: number, rate: number): boolean {
  // Nothing answered in time before it (a hung dependency, every request a 504): it paid only if something is now.
  if (grew.rate <= 0) return rate > 0;
  const perUnitBefore = grew.rate / grew.from;
  const perUnitAdded = (rate - grew.rate) / (size - grew.from);
  return perUnitAdded >= USEFUL_SHARE * perUnitBefore;
}

/** Samples that ended within the last `window` ms. */
function windowOf(samples: readonly Sample[], now: number, window: number): Sample[] {
  return samples.filter((s) => s.at > now - window);
}

/**
 * Whether the samples at this size cover the whole window: the oldest in it began at most half an
 * interval after the window's start (sampling runs a little late on a busy machine).
 */
function covers(samples: readonly Sample[], now: number, window: number, interval: number): boolean {
  const inWindow = windowOf(samples, now, window);
  const first = inWindow[0];
  return first !== undefined && first.at - first.span <= now - window + interval / 2;
}

function average(samples: readonly Sample[], f: (s: Sample) => number): number {
  let sum = 0;
  let weight = 0;
  for (const s of samples) {
    sum += f(s) * s.span;
    weight += s.span;
  }
  return weight === 0 ? 0 : sum / weight;
}

function rateOf(samples: readonly Sample[]): number {
  let done = 0;
  let span = 0;
  for (const s of samples) {
    done += s.completed;
    span += s.span;
  }
  return span === 0 ? 0 : (done * 1000) / span;
}

function grown(current: number, wanted: number, step: AutoscaleStep): number {
  const most = 'units' in step ? step.units : Math.max(1, Math.ceil(current * step.ratio));
  return Math.min(wanted, current + most);
}

function shrunk(current: number, step: AutoscaleStep): number {
  const most = 'units' in step ? step.units : Math.max(1, Math.floor(current * step.ratio));
  return current - most;
}

function stepText(step: AutoscaleStep): string {
  return 'units' in step ? String(step.units) : `${Math.round(step.ratio * 100)}%`;
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10}s` : `${Math.round(ms)}ms`;
}

function round(n: number): number {
  return n >= 100 ? Math.round(n) : Math.round(n * 100) / 100;
}
