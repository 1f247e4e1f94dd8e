import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applied, CEILING_HOLD_MS, decide, initialState, type Decision, type Policy, type Sample, type ScalerState } from '../../runtime/autoscale/decide.js';

// Synthetic traces: a model of a pool's load at a given size, sampled every second, fed to the
// decision, its changes applied at once. What each test asserts is what a user would watch the
// pool do: how fast it grows, that it comes back, how often it turns around, where it stops.

const INFLIGHT: Policy = {
  min: 1, max: 64, signal: 'inflight', target: 1, tolerance: 0.1, interval: 1000,
  up: { window: 5000, step: { ratio: 3 } }, down: { window: 60_000, step: { ratio: 1 } },
};
const UTILIZATION: Policy = { ...INFLIGHT, max: 8, signal: 'utilization', target: 0.7 };

/** What the pool does over one second at `size` units, at time `t` (seconds). */
type Model = (t: number, size: number) => Omit<Sample, 'at' | 'span' | 'size'>;

/** Front workers an inline pool's size is multiplied by. */
const WORKERS = 2;

/** Clients that each keep one request in flight (wrk -c), on actors that await `serviceMs`. */
function closedLoop(clients: (t: number) => number, serviceMs: (t: number) => number, perUnit = WORKERS): Model {
  return (t, size) => {
    const actors = size * perUnit;
    const c = clients(t);
    const busy = Math.min(c, actors);
    return { actors, inflight: c, busy, completed: (busy * 1000) / serviceMs(t) };
  };
}

/**
 * Requests arriving at `rate` per second whatever the pool does (open loop), on actors that await
 * a dependency taking `serviceMs` that serves at most `concurrency` calls at once; the rest wait
 * in the pool's mailboxes (bounded: past `capacity` per actor they are refused).
 */
function openLoop(rate: (t: number) => number, serviceMs: (t: number) => number, concurrency = Infinity, capacity = 1000): Model {
  let backlog = 0;
  return (t, size) => {
    const actors = size * WORKERS;
    const s = serviceMs(t) / 1000;
    const served = Math.min(actors, concurrency) / s;
    const offered = rate(t);
    const needed = offered * s;
    if (backlog === 0 && needed < Math.min(actors, concurrency)) return { actors, inflight: needed, busy: needed, completed: offered };
    backlog = Math.min(actors * capacity, Math.max(0, backlog + offered - served));
    return { actors, inflight: actors + backlog, busy: actors, completed: Math.min(served, offered + backlog) };
  };
}

/** `clients` each keeping a CPU-bound request in flight on threads (one actor each) sharing `cores`, `cpuMs` of CPU per request. */
function cpuBound(clients: number, cores: number, cpuMs: number): Model {
  return (_t, size) => {
    const busy = Math.min(clients, size);
    return { actors: size, inflight: clients, busy, completed: (Math.min(busy, cores) * 1000) / cpuMs };
  };
}

/** A deterministic PRNG (mulberry32), so a noisy trace is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Each reading off by up to +-`share` (machine noise, sampling jitter). */
function noisy(model: Model, share: number, seed = 7): Model {
  const r = random(seed);
  const jitter = (): number => 1 + (r() * 2 - 1) * share;
  return (t, size) => {
    const m = model(t, size);
    return { ...m, inflight: m.inflight * jitter(), busy: Math.min(m.actors, m.busy * jitter()), completed: m.completed * jitter() };
  };
}

interface Run {
  /** The size in force at each second. */
  readonly sizes: number[];
  readonly decisions: Array<Decision & { t: number }>;
}

/** Run `seconds` of a trace from `start` units; a change takes effect within the same second (a reload of sizes takes milliseconds). */
function run(policy: Policy, model: Model, seconds: number, start: number, memoryShort?: (t: number) => string | undefined): Run {
  let state: ScalerState = initialState(start, 0);
  const samples: Sample[] = [];
  const sizes: number[] = [];
  const decisions: Run['decisions'] = [];
  for (let t = 1; t <= seconds; t++) {
    const now = t * 1000;
    const short = memoryShort?.(t);
    samples.push({ at: now, span: 1000, size: state.size, ...model(t, state.size), ...(short === undefined ? {} : { memoryShort: short }) });
    if (samples.length > 600) samples.shift();
    const d = decide(policy, samples, now, state);
    if (d.size !== state.size) {
      decisions.push({ ...d, t });
      state = applied(d, now + 50);
    } else {
      state = d.state;
    }
    sizes.push(state.size);
  }
  return { sizes, decisions };
}

/** Times the direction of change turned around. */
function reversals(r: Run): number {
  let n = 0;
  for (let i = 1; i < r.decisions.length; i++) if (r.decisions[i]?.direction !== r.decisions[i - 1]?.direction) n++;
  return n;
}

/** The first second at or after `from` with size `size`, or -1. */
function reached(r: Run, from: number, test: (size: number) => boolean): number {
  for (let t = from; t <= r.sizes.length; t++) if (test(r.sizes[t - 1] as number)) return t;
  return -1;
}

test('load stepped x4: the pool grows to hold the target within 15 s and returns to its earlier size within the down window', () => {
  // 16 clients on 20 ms actors, then 64 from t=120 to t=300, then 16 again.
  const clients = (t: number): number => (t >= 120 && t < 300 ? 64 : 16);
  const r = run(INFLIGHT, closedLoop(clients, () => 20), 480, 2);
  assert.equal(r.sizes[119], 8, 'before the step: 16 in flight over 2 workers at 1 per actor is 8 per worker');
  const grown = reached(r, 120, (s) => s >= 32);
  assert.ok(grown !== -1 && grown - 120 <= 15, `grew to 32 within 15 s of the step (at ${grown})`);
  assert.equal(Math.max(...r.sizes.slice(120, 300)), 32, 'and no further');
  assert.deepEqual(r.decisions.filter((d) => d.t > 120 && d.t < 300).map((d) => d.size), [32], 'in one change: the sample straddling the step does not halve it');
  const back = reached(r, 300, (s) => s === 8);
  assert.ok(back !== -1 && back - 300 <= 60 + 5, `back to 8 within the 60 s down window (at ${back})`);
  assert.ok(r.sizes.slice(300, back - 1).every((s) => s === 32), 'nothing in between: one step down, once the whole window agreed');
  assert.equal(reversals(r), 1, `up, down: one turn (${r.decisions.map((d) => d.direction).join(',')})`);
});

test('a ramp: the pool only grows while the load grows, following it', () => {
  const clients = (t: number): number => Math.min(80, 4 + t / 2);
  const r = run(INFLIGHT, closedLoop(clients, () => 20), 240, 1);
  assert.ok(r.decisions.every((d) => d.direction === 'up'), r.decisions.map((d) => `${d.t}:${d.direction}`).join(' '));
  assert.equal(r.sizes[r.sizes.length - 1], 40, '80 in flight at 1 per actor over 2 workers');
  // Never behind by more than one window's worth of growth.
  for (let t = 20; t <= 240; t++) assert.ok((r.sizes[t - 1] as number) * 2 >= clients(t - 7) / 1.1, `at ${t}s: ${r.sizes[t - 1]} units for ${clients(t)} clients`);
});

test('a sine over 10 minutes: at most one turn each way per period, within the bounds', () => {
  const clients = (t: number): number => 40 + 30 * Math.sin((2 * Math.PI * t) / 600);
  const r = run(INFLIGHT, closedLoop(clients, () => 20), 1800, 20);
  assert.ok(reversals(r) <= 2 * 3, `${reversals(r)} turns over 3 periods`);
  assert.ok(r.sizes.every((s) => s >= INFLIGHT.min && s <= INFLIGHT.max));
  assert.ok(Math.max(...r.sizes) >= 30 && Math.min(...r.sizes.slice(600)) <= 10, `it follows the load: ${Math.min(...r.sizes.slice(600))}..${Math.max(...r.sizes)}`);
});

test('short spikes (3 s at x4, every 30 s) change nothing: each is shorter than the up window', () => {
  const clients = (t: number): number => (t % 30 < 3 ? 64 : 16);
  const r = run(INFLIGHT, closedLoop(clients, () => 20), 600, 8);
  assert.deepEqual(r.decisions.map((d) => d.t), []);
});

test('a noisy constant load for 5 minutes: at most one turn', () => {
  const r = run(INFLIGHT, noisy(closedLoop(() => 24, () => 20), 0.25), 300, 4);
  assert.ok(reversals(r) <= 1, `${reversals(r)} turns: ${r.decisions.map((d) => `${d.t}:${d.size}`).join(' ')}`);
  assert.ok(r.sizes[299] as number >= 12, `it reached the size the load needs (${r.sizes[299]})`);
});

test('a saturated dependency (more in flight, no more throughput): one growth that does not pay, back, and no growth after', () => {
  // 150 req/s on a database of 16 connections; its latency goes from 20 to 200 ms at t=60 (80 req/s at most).
  const r = run(INFLIGHT, openLoop(() => 150, (t) => (t < 60 ? 20 : 200), 16), 600, 2);
  const before = r.sizes[59] as number;
  const after = r.sizes.slice(60);
  assert.ok(Math.max(...after) <= 64 && Math.max(...after) < INFLIGHT.max, `bounded: ${Math.max(...after)}`);
  const last = r.decisions[r.decisions.length - 1];
  assert.ok(last !== undefined && /throughput did not grow/.test(last.reason), last?.reason);
  assert.ok(r.sizes[599] as number <= 16, `it holds at the useful size: ${r.sizes[599]} units, not the max (${before} before the slowdown)`);
  // Held there for the rest of the run: no turn after the way back.
  const backAt = last.t;
  assert.ok(r.sizes.slice(backAt).every((s) => s === r.sizes[599]));
});

test('a slower dependency with room (no saturation): the backlog it built is drained, then the pool settles at what Little\'s law needs at that rate', () => {
  // 100 req/s; the await goes from 20 to 200 ms: 2 in flight become 20 once it is slower.
  const r = run(INFLIGHT, openLoop(() => 100, (t) => (t < 60 ? 20 : 200), Infinity), 300, 1);
  assert.equal(r.sizes[59], 1);
  // The requests queued while it was too small count as work to do: it grows past the steady
  // need while they wait (bounded by max), and every growth pays (the backlog drains faster)...
  assert.ok(r.decisions.filter((d) => d.direction === 'up').every((d) => !/did not grow/.test(d.reason)));
  assert.ok(Math.max(...r.sizes) <= INFLIGHT.max);
  // ...then one step down once the down window has seen only the steady load.
  assert.equal(r.sizes[299], 10, '100 req/s x 0.2 s = 20 in flight = 10 actors per worker');
  assert.equal(reversals(r), 1);
});

test('CPU-bound threads on 2 cores: grows to 2, tries 3, sees no more throughput, returns to 2 and stays', () => {
  const r = run(UTILIZATION, cpuBound(16, 2, 5), 500, 1);
  assert.deepEqual(r.decisions.map((d) => d.size), [2, 3, 2], r.decisions.map((d) => d.reason).join('\n'));
  assert.ok(r.sizes.slice(60).every((s) => s === 2));
  assert.match(r.decisions[2]?.reason ?? '', /throughput did not grow from 2 to 3/);
});

test('the useful size is tried again once CEILING_HOLD_MS has passed (the cores may be free by then)', () => {
  const seconds = CEILING_HOLD_MS / 1000 + 120;
  const r = run(UTILIZATION, cpuBound(16, 2, 5), seconds, 1);
  assert.deepEqual(r.decisions.map((d) => d.size), [2, 3, 2, 3, 2]);
});

test('memory: a shortage stops growth and says so; growth resumes once it is over', () => {
  const short = (t: number): string | undefined => (t < 60 ? 'the host has 120 MiB available (under 10 % of 8 GiB)' : undefined);
  const r = run(INFLIGHT, closedLoop(() => 32, () => 20), 90, 2);
  const gated = run(INFLIGHT, closedLoop(() => 32, () => 20), 90, 2, short);
  assert.ok(r.sizes[20] === 16);
  assert.ok(gated.sizes.slice(0, 59).every((s) => s === 2));
  assert.match(decide(INFLIGHT, [1, 2, 3, 4, 5].map((t) => ({ at: t * 1000, span: 1000, size: 2, actors: 4, inflight: 32, busy: 4, completed: 200, memoryShort: 'the host has 120 MiB available' })), 5000, initialState(2, 0)).reason,
    /growth waits: the host has 120 MiB available/);
  assert.equal(gated.sizes[70], 16);
});

test('bounds: a size below min or above max moves to the bound at once; growth stops at max and says why', () => {
  const low = decide(INFLIGHT, [], 1000, initialState(0, 0));
  assert.equal(low.size, 1);
  const high = decide({ ...INFLIGHT, max: 4 }, [], 1000, initialState(9, 0));
  assert.deepEqual([high.size, high.direction], [4, 'down']);
  const r = run({ ...INFLIGHT, max: 6 }, closedLoop(() => 64, () => 20), 30, 2);
  assert.equal(Math.max(...r.sizes), 6);
  const d = decide({ ...INFLIGHT, max: 6 }, [{ at: 40_000, span: 1000, size: 6, actors: 12, inflight: 64, busy: 12, completed: 600 }, ...[35, 36, 37, 38, 39].map((s) => ({ at: s * 1000, span: 1000, size: 6, actors: 12, inflight: 64, busy: 12, completed: 600 }))].sort((a, b) => a.at - b.at), 40_000, initialState(6, 30_000));
  assert.match(d.reason, /at max \(6\)/);
});

test('windows count only samples taken after the current size took effect', () => {
  const s = (at: number, size: number): Sample => ({ at, span: 1000, size, actors: size * 2, inflight: 64, busy: size * 2, completed: 100 });
  // Five seconds of pressure, but the size changed 2 s ago: wait.
  const samples = [1, 2, 3, 4, 5, 6].map((t) => s(t * 1000, t < 5 ? 4 : 8));
  assert.equal(decide(INFLIGHT, samples, 6000, initialState(8, 4000)).direction, 'hold');
  // An interval sampled late still counts.
  const late = [1.3, 2.3, 3.3, 4.3, 5.3].map((t) => s(t * 1000, 8));
  assert.equal(decide(INFLIGHT, late, 5300, initialState(8, 0)).direction, 'up');
});

test('a hung dependency (every request times out, nothing answered in time): one growth, nothing paid, back, and held', () => {
  // 20 clients, 20 ms actors; from t=60 the database hangs: actors wait on it, callers get 504s,
  // and no request is answered in time (timeouts are not throughput).
  const model: Model = (t, size) => {
    const actors = size * WORKERS;
    if (t < 60) return { actors, inflight: 20, busy: Math.min(20, actors), completed: (Math.min(20, actors) * 1000) / 20 };
    return { actors, inflight: Math.max(actors, 60), busy: actors, completed: 0 };
  };
  const r = run(INFLIGHT, model, 400, 10);
  const after = r.decisions.filter((d) => d.t >= 60);
  assert.deepEqual(after.map((d) => d.direction), ['up', 'down'], after.map((d) => d.reason).join('\n'));
  assert.match(after[1]?.reason ?? '', /throughput did not grow from 10 to \d+ \(0 -> 0 req\/s\)/);
  assert.ok(r.sizes.slice(after[1]?.t ?? 0).every((s) => s === 10), 'held at 10, not grown to max');
});

test('below a useful size measured recently, growth stops at it', () => {
  const s = (at: number, size: number, inflight: number): Sample => ({ at, span: 1000, size, actors: size * 2, inflight, busy: Math.min(inflight, size * 2), completed: 100 });
  const state: ScalerState = { size: 3, since: 0, ceiling: { size: 4, rate: 400, at: 0, above: 7, aboveRate: 401 } };
  const d = decide(INFLIGHT, [1, 2, 3, 4, 5].map((t) => s(t * 1000, 3, 40)), 5000, state);
  assert.deepEqual([d.direction, d.size], ['up', 4]);
  assert.match(d.reason, /calls for 20, the useful size measured/);
});
