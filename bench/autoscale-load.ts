import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Pool } from 'undici';

/**
 * The autoscale bench's load generator (undici, in the bench process): latencies and outcomes in
 * one-second slices, so that what the pool size does can be lined up with what clients see second
 * by second. wrk only reports a whole run, and restarting it every second would drop the requests
 * in flight at each restart. Two shapes:
 * - closed loop: N connections, each sending its next request when the last one is answered (as
 *   wrk does); N changes between phases by opening or closing connections;
 * - open loop: a fixed arrival rate whatever the replies, with a bound on the requests outstanding
 *   and a timeout (a client population that does not slow down when the service does).
 */

/** One second of load, by the time requests finished (sent: by the time they were sent). */
export interface Slice {
  /** Requests sent (open loop: due) in this second. */
  sent: number;
  /** 2xx answers. */
  ok: number;
  /** Answers other than 2xx, by status. */
  readonly statuses: Map<number, number>;
  /** Connection errors (refused, reset) and timeouts of the generator's own. */
  errors: number;
  timeouts: number;
  /** Open loop: due but not sent, the bound on outstanding requests reached. */
  dropped: number;
  /** Milliseconds, every request answered in this second (2xx or not). */
  readonly latencies: number[];
}

export class Recorder {
  readonly slices: Slice[] = [];
  /** performance.now() at second 0. */
  readonly start = performance.now();
  /** Date.now() at second 0, to line slices up with the primary's log lines. */
  readonly epoch = Date.now();

  second(at = performance.now()): number {
    return Math.max(0, Math.floor((at - this.start) / 1000));
  }

  slice(index: number): Slice {
    while (this.slices.length <= index) this.slices.push({ sent: 0, ok: 0, statuses: new Map(), errors: 0, timeouts: 0, dropped: 0, latencies: [] });
    return this.slices[index] as Slice;
  }

  sent(): void { this.slice(this.second()).sent++; }
  dropped(): void { this.slice(this.second()).dropped++; }

  answered(status: number, ms: number): void {
    const s = this.slice(this.second());
    s.latencies.push(ms);
    if (status >= 200 && status < 300) s.ok++;
    else s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
  }

  failed(timeout: boolean): void {
    const s = this.slice(this.second());
    if (timeout) s.timeouts++;
    else s.errors++;
  }

  /** Non-2xx answers, errors and timeouts over slices [from, to). */
  failures(from = 0, to = this.slices.length): number {
    let n = 0;
    for (const s of this.slices.slice(from, to)) {
      n += s.errors + s.timeouts;
      for (const c of s.statuses.values()) n += c;
    }
    return n;
  }

  /** 2xx per second over slices [from, to). */
  okRate(from: number, to: number): number {
    const xs = this.slices.slice(from, to);
    return xs.length === 0 ? NaN : xs.reduce((a, s) => a + s.ok, 0) / xs.length;
  }

  /** The p-th percentile (0..100) of every latency in slices [from, to), ms. */
  percentile(p: number, from: number, to: number): number {
    const all: number[] = [];
    for (const s of this.slices.slice(from, to)) for (const l of s.latencies) all.push(l);
    return percentile(all, p);
  }

  /** Non-2xx statuses over the whole run, as "503 x12, 504 x3". */
  statusText(from = 0, to = this.slices.length): string {
    const total = new Map<number, number>();
    for (const s of this.slices.slice(from, to)) for (const [k, v] of s.statuses) total.set(k, (total.get(k) ?? 0) + v);
    return [...total].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k} x${v}`).join(', ');
  }
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = Float64Array.from(xs).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** A closed-loop phase: `connections` connections for `seconds`. */
export interface ClosedPhase {
  readonly connections: number;
  readonly seconds: number;
}

/**
 * Closed-loop load on `url`: each phase's connections (one undici Client each, as wrk opens one
 * socket per connection) send back to back. Going down a phase closes the newest connections once
 * their request is answered, so the ones left are spread over the front workers as a fresh wrk's
 * would be. Resolves when the last phase ends and every connection is closed; `signal` ends it early.
 */
export async function closedLoop(url: string, phases: readonly ClosedPhase[], rec: Recorder, signal?: AbortSignal): Promise<void> {
  const target = new URL(url);
  const path = `${target.pathname}${target.search}`;
  const loops: Array<{ stop: boolean; done: Promise<void> }> = [];
  const left: Array<Promise<void>> = [];
  const run = (state: { stop: boolean }): Promise<void> => (async () => {
    const client = new Client(target.origin, { pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
    try {
      while (!state.stop) {
        const t = performance.now();
        try {
          const res = await client.request({ path, method: 'GET' });
          await res.body.dump();
          rec.answered(res.statusCode, performance.now() - t);
        } catch (err) {
          rec.failed(isTimeout(err));
          await sleep(10); // a refused connection would otherwise spin
        }
      }
    } finally {
      await client.close().catch(() => client.destroy());
    }
  })();
  try {
    for (const phase of phases) {
      if (signal?.aborted === true) break;
      while (loops.length < phase.connections) {
        const state = { stop: false, done: Promise.resolve() };
        state.done = run(state);
        loops.push(state);
      }
      for (const l of loops.splice(phase.connections)) {
        l.stop = true;
        left.push(l.done);
      }
      await sleep(phase.seconds * 1000, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
    }
  } finally {
    for (const l of loops) l.stop = true;
    await Promise.all([...loops.map((l) => l.done), ...left]);
  }
}

export interface OpenLoop {
  /** Requests per second, sent on schedule whatever the replies. */
  readonly rate: number;
  readonly seconds: number;
  /** Most requests outstanding; one due past it is counted as dropped, not sent. */
  readonly maxOutstanding: number;
  /** The generator's own timeout per request, ms. */
  readonly timeoutMs: number;
}

/**
 * Open-loop load on `url`: request i is due at start + i / rate, sent then (a timer checks every
 * millisecond or so and sends what is due, late ones at once), its latency counted from when it was
 * due, so a stalled generator or server shows in the latencies (no coordinated omission).
 */
export async function openLoop(url: string, o: OpenLoop, rec: Recorder, signal?: AbortSignal): Promise<void> {
  const target = new URL(url);
  const path = `${target.pathname}${target.search}`;
  const pool = new Pool(target.origin, { connections: o.maxOutstanding, pipelining: 1, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs });
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const end = start + o.seconds * 1000;
  let next = 0;
  try {
    while (signal?.aborted !== true) {
      const now = performance.now();
      if (now >= end) break;
      while (start + (next * 1000) / o.rate <= now) {
        const due = start + (next * 1000) / o.rate;
        next++;
        if (pending.size >= o.maxOutstanding) {
          rec.dropped();
          continue;
        }
        rec.sent();
        const p = (async () => {
          try {
            const res = await pool.request({ path, method: 'GET', signal: AbortSignal.timeout(o.timeoutMs) });
            await res.body.dump();
            rec.answered(res.statusCode, performance.now() - due);
          } catch (err) {
            rec.failed(isTimeout(err));
          }
        })();
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await sleep(1);
    }
    await Promise.all(pending);
  } finally {
    await pool.destroy();
  }
}

function isTimeout(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return err.name === 'TimeoutError' || err.name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}
