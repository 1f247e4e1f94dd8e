import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { closedLoop, openLoop, Recorder, type ClosedPhase } from './autoscale-load.js';
import { median } from './load.js';
import { verdict } from './isolated.js';
import { ROOT } from './servers.js';

/**
 * Issue 25: pools that size themselves (runtime/autoscale), measured through the real CLI. Four
 * parts, each on its own `actorrt start`:
 * 1. an I/O-bound inline pool (20 ms awaited per request) under a closed-loop load stepped x4:
 *    how long until p99 is back, whether the pool shrinks back, failed requests;
 * 2. the same pool, default policy, constant load for AUTOSCALE_CONSTANT_S (300): direction reversals;
 * 3. a CPU-bound thread pool (5 ms of hashing per request), saturated: the size it settles at, the
 *    throughput at each size it visited, and the same load with the threads pinned at 1, 2, 3;
 * 4. an inline pool calling a stub database at a constant arrival rate (open loop) when the
 *    database slows from 20 to 200 ms, with 16 connections (saturated) and without a limit.
 * The pool size over time comes from the primary's `"event":"autoscale"` log lines (stderr), and
 * is checked at the end of each part against `actorrt status --json`. A run that finishes every part writes
 * docs/autoscaling-trace.svg (BENCH_WRITE=0 skips it).
 */

const WORKERS = 2;
const CLI = join(ROOT, 'dist', 'runtime', 'cli.js');
const topology = (name: string): string => join(ROOT, 'bench', 'topologies', `autoscale-${name}.yml`);

// ---------------------------------------------------------------------------------------------
// The instance under test: `actorrt start` with its log lines read.

/** One `"event":"autoscale"` line of the primary's log (stderr). */
interface Change {
  /** Epoch ms (the line's pino `time`). */
  readonly time: number;
  readonly from: number;
  readonly to: number;
  readonly direction: string;
  readonly value: number | undefined;
  readonly rate: number | undefined;
  readonly reason: string;
}

interface Instance {
  readonly port: number;
  readonly changes: Change[];
  stop(): Promise<void>;
}

/** An autoscale line, checked field by field (it comes from another process). */
function parseChange(line: string): Change | undefined {
  if (!line.startsWith('{') || !line.includes('"autoscale"')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o['event'] !== 'autoscale' || typeof o['time'] !== 'number' || typeof o['from'] !== 'number' || typeof o['to'] !== 'number'
    || typeof o['direction'] !== 'string' || typeof o['reason'] !== 'string') return undefined;
  return {
    time: o['time'], from: o['from'], to: o['to'], direction: o['direction'], reason: o['reason'],
    value: typeof o['value'] === 'number' ? o['value'] : undefined, rate: typeof o['rate'] === 'number' ? o['rate'] : undefined,
  };
}

/** How long `actorrt start` may take to print its ready line. */
const START_TIMEOUT_MS = 60_000;
/** Instances started and not yet stopped: should the bench itself exit abruptly, they are sent SIGTERM. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGTERM');
});

/**
 * `actorrt start <file> --port 0 --workers 2` at log level info (the autoscale lines are info);
 * resolves once it is ready. The `"event":"autoscale"` lines are read from its stderr, where every
 * log line goes (runtime/logger.ts).
 */
function start(file: string, env: NodeJS.ProcessEnv = {}): Promise<Instance> {
  const child = spawn(process.execPath, [CLI, 'start', file, '--port', '0', '--workers', String(WORKERS)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, ACTORRT_LOG_LEVEL: 'info' } });
  live.add(child);
  const changes: Change[] = [];
  let runtimeDir: string | undefined;
  let err = '';
  let pending = '';
  let out = '';
  return new Promise((resolve, reject) => {
    const slow = setTimeout(() => {
      void stop(child, file, () => runtimeDir).then(() => reject(new Error(`actorrt start ${file} was not ready within ${START_TIMEOUT_MS / 1000} s:\n${err}`)));
    }, START_TIMEOUT_MS);
    // The log lines (JSON, one per line) are on stderr; stdout has the ready line.
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      err = (err + text).slice(-16_384);
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const change = parseChange(line);
        if (change !== undefined) changes.push(change);
        const dir = /"runtimeDir":"([^"]+)"/.exec(line)?.[1];
        if (dir !== undefined) runtimeDir = dir;
      }
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const ready = /actorrt ready on http:\/\/[^:]+:(\d+)/.exec(out);
      if (ready === null) return;
      clearTimeout(slow);
      resolve({ port: Number(ready[1]), changes, stop: () => stop(child, file, () => runtimeDir) });
    });
    child.once('exit', (code) => {
      clearTimeout(slow);
      live.delete(child);
      reject(new Error(`actorrt start ${file} exited with ${String(code)} before it was ready:\n${err}`));
    });
  });
}

/** SIGTERM (a graceful stop), SIGKILL to the group after 30 s; the runtime folder is removed if the primary could not. */
function stop(child: ChildProcess, file: string, runtimeDir: () => string | undefined): Promise<void> {
  return new Promise((resolve) => {
    let killed = false;
    const done = (): void => {
      clearTimeout(kill);
      live.delete(child);
      if (killed) {
        // What a graceful stop removes itself: the runtime folder and the pid file (bench/topologies/.actorrt/).
        const dir = runtimeDir();
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        rmSync(join(dirname(file), '.actorrt', `${basename(file, extname(file))}.pid`), { force: true });
      }
      resolve();
    };
    const kill = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 30_000);
    if (child.exitCode !== null || child.signalCode !== null) { done(); return; }
    child.once('exit', done);
    child.kill('SIGTERM');
  });
}

/** Run `body` against a started instance, stopping it whatever happens; prints the machine's load average before and after (it is shared). */
async function withInstance<T>(file: string, env: NodeJS.ProcessEnv, body: (i: Instance) => Promise<T>): Promise<T> {
  const before = loadavg()[0] ?? NaN;
  const instance = await start(file, env);
  try {
    return await body(instance);
  } finally {
    await instance.stop();
    process.stdout.write(`  (load average of the machine: ${before.toFixed(1)} before, ${(loadavg()[0] ?? NaN).toFixed(1)} after; ${availableParallelism()} cores)\n`);
  }
}

/** The autoscaled pool as `actorrt status --json` shows it (checked, not cast). */
interface StatusView { readonly current: number; readonly up: number; readonly down: number; readonly ceiling: number | undefined; readonly now: string }

async function status(file: string, pool: string): Promise<StatusView | string> {
  let out: string;
  try {
    out = (await promisify(execFile)(process.execPath, [CLI, 'status', file, '--json'], { cwd: ROOT, encoding: 'utf8' })).stdout;
  } catch (e) {
    return `actorrt status failed: ${(e as Error).message}`;
  }
  let v: unknown;
  try {
    v = JSON.parse(out);
  } catch {
    return 'actorrt status --json printed something that is not JSON';
  }
  const pools = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['pools'] : undefined;
  if (!Array.isArray(pools)) return 'actorrt status --json has no pools array';
  const p: unknown = pools.find((x: unknown) => typeof x === 'object' && x !== null && (x as Record<string, unknown>)['name'] === pool);
  const a = typeof p === 'object' && p !== null ? (p as Record<string, unknown>)['autoscale'] : undefined;
  if (typeof a !== 'object' || a === null) return `actorrt status --json shows no autoscale for pool ${pool}`;
  const o = a as Record<string, unknown>;
  const changes = o['changes'];
  const c = typeof changes === 'object' && changes !== null ? changes as Record<string, unknown> : {};
  if (typeof o['current'] !== 'number' || typeof c['up'] !== 'number' || typeof c['down'] !== 'number' || typeof o['now'] !== 'string') {
    return `actorrt status --json: pool ${pool}'s autoscale lacks current / changes / now`;
  }
  return { current: o['current'], up: c['up'], down: c['down'], ceiling: typeof o['ceiling'] === 'number' ? o['ceiling'] : undefined, now: o['now'] };
}

/** `actorrt <args>` as a user runs it; resolves with its exit code. */
function cli(args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: 'ignore' });
    child.on('error', () => resolve(1));
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

/** Requests in flight in each front worker now, from `actorrt status --json` (checked); empty when it could not tell. */
async function workerInflight(file: string): Promise<number[]> {
  let v: unknown;
  try {
    v = JSON.parse((await promisify(execFile)(process.execPath, [CLI, 'status', file, '--json'], { cwd: ROOT, encoding: 'utf8' })).stdout);
  } catch {
    return [];
  }
  const workers = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['workers'] : undefined;
  if (!Array.isArray(workers)) return [];
  return workers.map((w: unknown) => (typeof w === 'object' && w !== null ? (w as Record<string, unknown>)['inflight'] : undefined))
    .filter((n): n is number => typeof n === 'number');
}

/** One line comparing the size the log lines led to with what status says. */
async function crossCheck(file: string, pool: string, start: number, changes: readonly Change[]): Promise<string> {
  const s = await status(file, pool);
  if (typeof s === 'string') return `  status check: ${s}\n`;
  const last = changes.length === 0 ? start : (changes[changes.length - 1] as Change).to;
  const ups = changes.filter((c) => c.to > c.from).length;
  const agree = s.current === last && s.up === ups && s.down === changes.length - ups;
  return `  actorrt status --json at the end: ${pool} at ${s.current}, ${s.up} up, ${s.down} down${s.ceiling === undefined ? '' : `, useful size ${s.ceiling}`}`
    + ` (${agree ? 'agrees with the log lines' : `DISAGREES with the log lines: ${last}, ${ups} up, ${changes.length - ups} down`}); now: ${s.now}\n`;
}

// ---------------------------------------------------------------------------------------------
// Traces.

/** The pool's size at `second` of the load (the recorder's clock), from its start size and changes. */
function sizeAt(rec: Recorder, startSize: number, changes: readonly Change[], second: number): number {
  let size = startSize;
  for (const c of changes) if ((c.time - rec.epoch) / 1000 <= second) size = c.to;
  return size;
}

/** Seconds since the load started (the recorder's clock) at which `c` was logged. */
const atSecond = (rec: Recorder, c: Change): number => (c.time - rec.epoch) / 1000;

function changeLines(rec: Recorder, changes: readonly Change[], indent = '    '): string {
  if (changes.length === 0) return `${indent}(no change)\n`;
  return changes.map((c) => `${indent}t=${atSecond(rec, c).toFixed(1).padStart(6)}s  ${String(c.from).padStart(3)} -> ${String(c.to).padEnd(3)} `
    + `${c.rate === undefined ? '' : `rate ${c.rate.toFixed(0)} req/s; `}${c.reason}\n`).join('');
}

const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(n < 10 ? 1 : 0) : '-');

/** What the plot needs from a part. */
interface Trace {
  readonly title: string;
  readonly sizeLabel: string;
  readonly loadLabel: string;
  readonly seconds: number;
  /** Per second: the left axis' value (the pool size; p99 ms in the latency panel) and the load (connections or req/s). */
  readonly size: number[];
  readonly load: number[];
  /** Left axis: values past this are drawn at it (the latency panel's first seconds). */
  readonly clip?: number;
  /** A dashed horizontal line on the left axis. */
  readonly threshold?: number;
  /** The left axis is a latency (drawn in another colour than a size). */
  readonly latency?: boolean;
  readonly marks: ReadonlyArray<{ readonly at: number; readonly label: string }>;
}

const traces: Trace[] = [];

// ---------------------------------------------------------------------------------------------
// 1. Step x4.

const STEP = { low: 16, high: 64, before: 30, during: 60, downWindow: 30, after: 20, max: 64, pinned: 12 };
/** When (seconds into part 1's load) to ask status for the requests in flight in each front worker: not in the 10 s before the step (a CLI start is CPU that would show in the reference p99). */
const SPREAD_AT = [15, 60, 75];

async function stepScenario(): Promise<void> {
  const file = topology('io');
  const phases: ClosedPhase[] = [
    { connections: STEP.low, seconds: STEP.before },
    { connections: STEP.high, seconds: STEP.during },
    { connections: STEP.low, seconds: STEP.downWindow + STEP.after },
  ];
  const total = phases.reduce((a, p) => a + p.seconds, 0);
  process.stdout.write(`\n## autoscale 1: load step x4 on an I/O-bound inline pool (actor awaits 20 ms; ${WORKERS} workers; min 1, max 64, start 1, `
    + `down.window ${STEP.downWindow}s instead of 60s to keep the run short, the rest default); closed loop (undici): `
    + `-c${STEP.low} ${STEP.before}s, -c${STEP.high} ${STEP.during}s, -c${STEP.low} ${STEP.downWindow + STEP.after}s\n`);
  const { rec, changes, check, pinned, spread } = await withInstance(file, {}, async (i) => {
    const rec = new Recorder();
    // In flight per front worker now and then: the scaler sizes every worker alike from the sum.
    const spread = await Promise.all([closedLoop(`http://127.0.0.1:${i.port}/io`, phases, rec),
      ...SPREAD_AT.map(async (at) => {
        await sleep(at * 1000);
        return { at, inflight: await workerInflight(file) };
      })]).then(([, ...xs]) => xs);
    const result = { rec, changes: [...i.changes], check: await crossCheck(file, 'io', 1, i.changes) };
    // What -c64 gets on this machine from the largest pool (pinned at max by `actorrt scale`): the
    // best a size can do here, apart from the scaler's choice.
    const code = await cli(['scale', file, `io=${STEP.max}`]);
    const pinned = new Recorder();
    if (code === 0) await closedLoop(`http://127.0.0.1:${i.port}/io`, [{ connections: STEP.high, seconds: STEP.pinned }], pinned);
    return { ...result, spread, pinned: code === 0 ? pinned.percentile(99, 2, STEP.pinned) : NaN };
  });
  const step = STEP.before;
  const drop = STEP.before + STEP.during;
  const p99s = rec.slices.map((_, k) => rec.percentile(99, k, k + 1));
  // The per-second p99 is what is compared after the step, so the reference is the same statistic:
  // the median of the 10 per-second p99s before it (one noisy second of a shared machine would
  // make the pooled p99 of those 10 s, printed beside it, the p99 of that second alone).
  const pre = median(p99s.slice(step - 10, step).filter(Number.isFinite));
  const pooled = rec.percentile(99, step - 10, step);
  const within = (k: number): boolean => (p99s[k] ?? Infinity) <= 1.5 * pre;
  let back: number | undefined;
  for (let k = step; k + 2 < drop; k++) if (within(k) && within(k + 1) && within(k + 2)) { back = k - step; break; }
  const preSize = sizeAt(rec, 1, changes, step);
  const highSize = sizeAt(rec, 1, changes, drop);
  const afterDrop = changes.filter((c) => atSecond(rec, c) > drop);
  const returned = afterDrop.find((c) => c.to === preSize);
  const returnedAt = returned === undefined ? undefined : atSecond(rec, returned) - drop;
  const endSize = sizeAt(rec, 1, changes, total + 1);
  const failed = rec.failures();
  const slack = 5;
  process.stdout.write(changeLines(rec, changes) + check);
  process.stdout.write(`  p99 per second around the step (t=${step - 5}..${step + 24}s, ms): ${p99s.slice(step - 5, step + 25).map(ms).join(' ')}\n`);
  process.stdout.write(`  2xx req/s: ${rec.okRate(step - 10, step).toFixed(0)} before the step (size ${preSize}), `
    + `${rec.okRate(drop - 10, drop).toFixed(0)} in the last 10 s of -c${STEP.high} (size ${highSize}), ${rec.okRate(total - 10, total).toFixed(0)} at the end (size ${endSize})\n`);
  process.stdout.write(`  pre-step p99 (median of the per-second p99s over the last 10 s of -c${STEP.low}): ${ms(pre)} ms (p99 of those 10 s pooled: ${ms(pooled)} ms); `
    + `p99 in the 5 s after the step: ${ms(rec.percentile(99, step, step + 5))} ms\n`);
  const atHigh = rec.percentile(99, drop - 30, drop);
  process.stdout.write(`  p99 over the last 30 s of -c${STEP.high} (size ${highSize}): ${ms(atHigh)} ms = ${(atHigh / pre).toFixed(2)}x pre-step; `
    + `afterwards, -c${STEP.high} with the pool pinned at ${STEP.max} (actorrt scale): ${ms(pinned)} ms = ${(pinned / pre).toFixed(2)}x\n`);
  process.stdout.write(`  requests in flight per front worker (actorrt status --json): ${spread.map((x) => `t=${x.at}s ${x.inflight.join('/') || '-'} (size ${sizeAt(rec, 1, changes, x.at)})`).join(', ')}\n`);
  process.stdout.write(`  p99 back within 1.5x of pre-step (${ms(1.5 * pre)} ms, 3 seconds in a row): ${back === undefined ? 'never' : `${back} s`} after the step `
    + `(target <= 15 s: ${verdict(back !== undefined && back <= 15)})\n`);
  process.stdout.write(`  pool back at its pre-step size ${preSize} after the load dropped: ${returnedAt === undefined ? `no (at ${endSize} at the end)` : `after ${returnedAt.toFixed(1)} s`}`
    + `, ends at ${endSize} (target: back within the ${STEP.downWindow} s down window, +${slack} s for sampling: ${verdict(returnedAt !== undefined && returnedAt <= STEP.downWindow + slack && endSize === preSize)})\n`);
  process.stdout.write(`  failed requests (non-2xx + socket errors + timeouts): ${failed}${failed > 0 ? ` (${rec.statusText()})` : ''} (target 0: ${verdict(failed === 0)})\n`);
  const conns = (k: number): number => (k < step ? STEP.low : k < drop ? STEP.high : STEP.low);
  traces.push({
    title: `1. Load step x4, I/O-bound inline pool (20 ms per request, ${WORKERS} workers, target 1 in flight per actor)`,
    sizeLabel: 'actors per worker', loadLabel: 'connections', seconds: total,
    size: Array.from({ length: total }, (_, k) => sizeAt(rec, 1, changes, k + 0.5)),
    load: Array.from({ length: total }, (_, k) => conns(k)),
    marks: [{ at: step, label: `-c${STEP.high}` }, { at: drop, label: `-c${STEP.low}` }],
  });
  traces.push({
    title: `1. (same run) p99 per second; dashed: 1.5x the pre-step p99 (${ms(pre)} ms)`,
    sizeLabel: 'p99 ms', loadLabel: 'connections', seconds: total, clip: Math.max(4 * pre, 100),
    size: p99s.slice(0, total).map((v) => (Number.isFinite(v) ? v : 0)), latency: true,
    load: Array.from({ length: total }, (_, k) => conns(k)),
    threshold: 1.5 * pre,
    marks: [{ at: step, label: `-c${STEP.high}` }, { at: drop, label: `-c${STEP.low}` }],
  });
}

// ---------------------------------------------------------------------------------------------
// 2. Constant load.

async function constantScenario(): Promise<void> {
  const file = topology('constant');
  const seconds = Number(process.env['AUTOSCALE_CONSTANT_S'] ?? 300);
  const connections = 32;
  process.stdout.write(`\n## autoscale 2: constant load, default policy (same I/O-bound pool, start 1): closed loop -c${connections} for ${seconds} s `
    + `(AUTOSCALE_CONSTANT_S=${seconds}${process.env['AUTOSCALE_CONSTANT_S'] === undefined ? ', the default' : ''})\n`);
  const { rec, changes, check } = await withInstance(file, {}, async (i) => {
    const rec = new Recorder();
    await closedLoop(`http://127.0.0.1:${i.port}/io`, [{ connections, seconds }], rec);
    return { rec, changes: [...i.changes], check: await crossCheck(file, 'io', 1, i.changes) };
  });
  const directions = changes.map((c) => (c.to > c.from ? 'up' : 'down'));
  let reversals = 0;
  for (let k = 1; k < directions.length; k++) if (directions[k] !== directions[k - 1]) reversals++;
  const failed = rec.failures();
  process.stdout.write(changeLines(rec, changes) + check);
  process.stdout.write(`  2xx req/s ${rec.okRate(0, seconds).toFixed(0)}, p99 ${ms(rec.percentile(99, 30, seconds))} ms after the first 30 s; failed requests ${failed}\n`);
  process.stdout.write(`  direction reversals of the size over ${seconds} s: ${reversals} (${directions.join(', ') || 'no change'}) (target <= 1: ${verdict(reversals <= 1)})\n`);
}

// ---------------------------------------------------------------------------------------------
// 3. CPU-bound thread pool.

const CPU_PIN_S = 6;

async function cpuScenario(): Promise<void> {
  const file = topology('cpu');
  const seconds = 30;
  const connections = 16;
  const cores = availableParallelism();
  process.stdout.write(`\n## autoscale 3: CPU-bound thread pool (5 ms of hashing per request; threads per worker autoscaled from 1, max 6, one actor per thread, `
    + `signal utilization, target 0.7), closed loop -c${connections} for ${seconds} s; ${cores} cores, ${WORKERS} workers\n`);
  const { rec, changes, check, curve } = await withInstance(file, {}, async (i) => {
    const rec = new Recorder();
    await closedLoop(`http://127.0.0.1:${i.port}/cpu`, [{ connections, seconds }], rec);
    const result = { rec, changes: [...i.changes], check: await crossCheck(file, 'cpu', 1, i.changes) };
    // The reference: the same load with the threads pinned (actorrt scale) at 1, 2, 3, 3, 2, 1 per
    // worker, CPU_PIN_S each less the first second, averaged per size: the order cancels a load on
    // the shared machine that rises or falls steadily meanwhile.
    const runs = new Map<number, number[]>();
    for (const size of [1, 2, 3, 3, 2, 1]) {
      if (await cli(['scale', file, `cpu.threads=${size}`]) !== 0) break;
      const pinned = new Recorder();
      await closedLoop(`http://127.0.0.1:${i.port}/cpu`, [{ connections, seconds: CPU_PIN_S }], pinned);
      runs.set(size, [...(runs.get(size) ?? []), pinned.okRate(1, CPU_PIN_S)]);
    }
    const curve = [...runs].map(([size, xs]) => ({ size, rps: xs.reduce((a, b) => a + b, 0) / xs.length, runs: xs }));
    return { ...result, curve };
  });
  process.stdout.write(changeLines(rec, changes) + check);
  // Throughput measured at each size: the whole seconds spent at it, less the second after a change.
  const bounds = [0, ...changes.map((c) => atSecond(rec, c)), seconds];
  const visited = new Map<number, { seconds: number; ok: number }>();
  for (let k = 0; k + 1 < bounds.length; k++) {
    const from = Math.ceil(bounds[k] as number) + (k === 0 ? 2 : 1);
    const to = Math.floor(bounds[k + 1] as number);
    const size = sizeAt(rec, 1, changes, (from + to) / 2);
    if (to <= from) continue;
    const v = visited.get(size) ?? { seconds: 0, ok: 0 };
    v.seconds += to - from;
    v.ok += rec.okRate(from, to) * (to - from);
    visited.set(size, v);
  }
  const rates = [...visited].sort((a, b) => a[0] - b[0]).map(([size, v]) => ({ size, rps: v.ok / v.seconds, seconds: v.seconds }));
  const settled = sizeAt(rec, 1, changes, seconds);
  const best = Math.max(...curve.map((r) => r.rps));
  const useful = curve.find((r) => r.rps >= 0.9 * best)?.size;
  for (const r of rates) {
    const logged = changes.filter((c) => c.from === r.size && c.rate !== undefined).map((c) => (c.rate as number).toFixed(0));
    process.stdout.write(`  at ${r.size} thread${r.size === 1 ? '' : 's'} per worker (${r.size * WORKERS} in all): ${r.rps.toFixed(0)} req/s measured over ${r.seconds} s`
      + `${logged.length === 0 ? '' : `; the autoscaler's rate when leaving it: ${logged.join(', ')} req/s`}\n`);
  }
  process.stdout.write(`  p99 over the last 15 s: ${ms(rec.percentile(99, seconds - 15, seconds))} ms; failed requests ${rec.failures()}\n`);
  process.stdout.write(`  pinned afterwards (actorrt scale cpu.threads=N in the order 1 2 3 3 2 1, -c${connections}, ${CPU_PIN_S - 1} s each): `
    + `${curve.map((r) => `${r.size}: ${r.rps.toFixed(0)} req/s (${r.runs.map((x) => x.toFixed(0)).join(' / ')})`).join(', ')}\n`);
  const perCores = Math.max(1, Math.floor(cores / WORKERS));
  process.stdout.write(`  settles at ${settled} thread${settled === 1 ? '' : 's'} per worker. Target: stops at the useful size; `
    + `${cores} cores / ${WORKERS} workers = ${perCores} per worker: ${verdict(settled === perCores)}; `
    + `the smallest pinned size within 10% of the best pinned throughput, ${useful ?? '-'}: ${verdict(settled === useful)}\n`);
  traces.push({
    title: `3. CPU-bound thread pool (5 ms per request, ${cores} cores, ${WORKERS} workers, -c${connections})`,
    sizeLabel: 'threads per worker', loadLabel: '2xx req/s', seconds,
    size: Array.from({ length: seconds }, (_, k) => sizeAt(rec, 1, changes, k + 0.5)),
    load: Array.from({ length: seconds }, (_, k) => rec.slices[k]?.ok ?? 0),
    marks: [],
  });
}

// ---------------------------------------------------------------------------------------------
// 4. A database that slows down, at a constant arrival rate.

/** The stub "database": answers after `latency` ms, at most `limit` at once (the rest wait in order, as for a connection pool). */
interface StubDb { readonly url: string; latency: number; readonly limit: number; close(): Promise<void> }

async function stubDb(limit: number): Promise<StubDb> {
  let active = 0;
  const waiting: Array<() => void> = [];
  const db = { url: '', latency: 20, limit, close: async () => undefined as void };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const run = (): void => {
      active++;
      setTimeout(() => {
        res.end('{"id":1}');
        active--;
        waiting.shift()?.();
      }, db.latency);
    };
    if (active < limit) run();
    else waiting.push(run);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  db.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/row`;
  db.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return db;
}

const DB = { rate: 150, fast: 20, slow: 200, before: 25, after: 40, maxOutstanding: 2000 };

/** The pool's reply deadline in seconds: the default 10 s, or AUTOSCALE_DB_TIMEOUT (e.g. 2s). */
function dbTimeout(): number {
  const v = process.env['AUTOSCALE_DB_TIMEOUT'];
  const m = v === undefined || v === '' ? null : /^(\d+(?:\.\d+)?)(ms|s)$/.exec(v);
  if (v !== undefined && v !== '' && m === null) throw new Error(`AUTOSCALE_DB_TIMEOUT=${v}: write a duration such as 2s or 2500ms`);
  return m === null ? 10 : Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
}

async function dbScenario(): Promise<void> {
  const timeout = dbTimeout();
  // The generator waits longer than the pool, so that what the pool refuses is seen as its 504.
  const timeoutMs = (timeout + 2) * 1000;
  process.stdout.write(`\n## autoscale 4: a database slows from ${DB.fast} to ${DB.slow} ms at a constant arrival rate: open loop (undici) ${DB.rate} req/s `
    + `(at most ${DB.maxOutstanding} outstanding, ${timeoutMs / 1000} s timeout), ${DB.before} s at ${DB.fast} ms then ${DB.after} s at ${DB.slow} ms; `
    + `inline pool, default policy, start 2, pool reply timeout ${timeout} s (${process.env['AUTOSCALE_DB_TIMEOUT'] === undefined ? 'the default; AUTOSCALE_DB_TIMEOUT changes it' : 'AUTOSCALE_DB_TIMEOUT'}); `
    + `each request is one call to a stub database in the bench process\n`);
  for (const limit of [16, Infinity]) {
    const file = topology('db');
    const db = await stubDb(limit);
    let run: { rec: Recorder; changes: Change[]; check: string };
    try {
      run = await withInstance(file, { AUTOSCALE_DB_URL: db.url, AUTOSCALE_DB_TIMEOUT: `${timeout * 1000}ms` }, async (i) => {
        const rec = new Recorder();
        const slow = setTimeout(() => { db.latency = DB.slow; }, DB.before * 1000);
        try {
          await openLoop(`http://127.0.0.1:${i.port}/db`, { rate: DB.rate, seconds: DB.before + DB.after, maxOutstanding: DB.maxOutstanding, timeoutMs }, rec);
        } finally {
          clearTimeout(slow);
        }
        return { rec, changes: [...i.changes], check: await crossCheck(file, 'db', 2, i.changes) };
      });
    } finally {
      await db.close();
    }
    const { rec, changes, check } = run;
    const total = DB.before + DB.after;
    const name = limit === Infinity ? 'database without a connection limit' : `database with ${limit} connections (serves at most ${(limit * 1000 / DB.slow).toFixed(0)} req/s at ${DB.slow} ms)`;
    process.stdout.write(`  ${name}:\n${changeLines(rec, changes)}${check}`);
    const row = (from: number, to: number): string => `t=${from}..${to}s: size ${sizeAt(rec, 2, changes, from)}..${sizeAt(rec, 2, changes, to)}, `
      + `2xx ${rec.okRate(from, to).toFixed(0)} req/s, p99 ${ms(rec.percentile(99, from, to))} ms, failed ${rec.failures(from, to)}${rec.failures(from, to) > 0 ? ` (${rec.statusText(from, to)}${timeoutsText(rec, from, to)})` : ''}`;
    process.stdout.write(`    before the slowdown ${row(DB.before - 15, DB.before)}\n`);
    for (let t = DB.before; t < total; t += 10) process.stdout.write(`    after              ${row(t, Math.min(total, t + 10))}\n`);
    process.stdout.write(`    2xx per second: ${rec.slices.slice(0, total).map((x) => x.ok).join(' ')}\n`);
    const end = sizeAt(rec, 2, changes, total);
    const most = Math.max(2, ...changes.map((c) => c.to));
    if (limit === Infinity) {
      const little = (DB.rate * DB.slow) / 1000 / WORKERS;
      process.stdout.write(`    settles at ${end} actors per worker (largest ${most}); Little's law: ${DB.rate} req/s x ${DB.slow / 1000} s / target 1 / ${WORKERS} workers = ${little} per worker `
        + `(expected: grows to about that and stops: ${verdict(most <= Math.ceil(1.5 * little) && end >= little * 0.8)})\n`);
    } else {
      const downs = changes.filter((c) => c.to < c.from && atSecond(rec, c) > DB.before);
      // Holding is only right at a size that still gets what the database can give (a pool held
      // below it, or one whose requests all time out, is not "bounded", it is starved).
      const capacity = (limit * 1000) / DB.slow;
      const served = rec.okRate(total - 10, total);
      const held = downs.length > 0 && changes.every((c) => atSecond(rec, c) <= atSecond(rec, downs[0] as Change));
      process.stdout.write(`    largest size ${most}, ends at ${end} actors per worker; ${downs.length > 0 ? 'went back' : 'did not go back'} after growing; `
        + `2xx in the last 10 s ${served.toFixed(0)} req/s of the ${capacity.toFixed(0)} the database can serve`
        + ` (expected: grows, sees throughput not growing, goes back and holds, bounded, serving >= 80% of that: ${verdict(most < 64 && held && served >= 0.8 * capacity)})\n`);
    }
    traces.push({
      title: `4. Database slows ${DB.fast} -> ${DB.slow} ms at ${DB.rate} req/s (open loop), ${limit === Infinity ? 'no connection limit' : `${limit} connections`}`,
      sizeLabel: 'actors per worker', loadLabel: '2xx req/s', seconds: total,
      size: Array.from({ length: total }, (_, k) => sizeAt(rec, 2, changes, k + 0.5)),
      load: Array.from({ length: total }, (_, k) => rec.slices[k]?.ok ?? 0),
      marks: [{ at: DB.before, label: `${DB.slow} ms` }],
    });
  }
}

function timeoutsText(rec: Recorder, from: number, to: number): string {
  const t = rec.slices.slice(from, to).reduce((a, s) => a + s.timeouts, 0);
  const e = rec.slices.slice(from, to).reduce((a, s) => a + s.errors, 0);
  const d = rec.slices.slice(from, to).reduce((a, s) => a + s.dropped, 0);
  return `${t > 0 ? `, ${t} client timeouts` : ''}${e > 0 ? `, ${e} socket errors` : ''}${d > 0 ? `, ${d} not sent (bound)` : ''}`;
}

// ---------------------------------------------------------------------------------------------

/** `BENCH_ONLY=autoscale npm run bench`: the four parts in turn (~11 minutes), then the plot; AUTOSCALE_PARTS picks some. */
export async function autoscaleScenario(): Promise<void> {
  traces.length = 0;
  const started = Date.now();
  // AUTOSCALE_PARTS=1,3 runs some parts only (no plot then).
  const parts = (process.env['AUTOSCALE_PARTS'] ?? '1,2,3,4').split(',').map((p) => p.trim());
  const all: ReadonlyArray<[string, () => Promise<void>]> = [['1', stepScenario], ['2', constantScenario], ['3', cpuScenario], ['4', dbScenario]];
  for (const [part, run] of all) if (parts.includes(part)) await run();
  process.stdout.write(`\nautoscale: ${((Date.now() - started) / 60_000).toFixed(1)} minutes\n`);
  if (parts.length === all.length && process.env['BENCH_WRITE'] !== '0') {
    writeFileSync(join(ROOT, 'docs', 'autoscaling-trace.svg'), plot(traces));
    process.stdout.write('written to docs/autoscaling-trace.svg (BENCH_WRITE=0 to skip)\n');
  }
}

// ---------------------------------------------------------------------------------------------
// The plot: one panel per trace, the pool size (steps, left axis) and the load (right axis) over seconds.

function plot(all: readonly Trace[]): string {
  const W = 900;
  const panelH = 215;
  const m = { left: 60, right: 70, top: 46, bottom: 40 };
  const panels: string[] = [];
  all.forEach((t, n) => {
    const y0 = n * panelH;
    const w = W - m.left - m.right;
    const h = panelH - m.top - m.bottom;
    const x = (sec: number): number => m.left + (sec / t.seconds) * w;
    const leftMax = niceMax(Math.min(t.clip ?? Infinity, Math.max(...t.size, t.threshold ?? 0)));
    const loadMax = niceMax(Math.max(...t.load));
    const ys = (v: number): number => y0 + m.top + h - (Math.min(v, leftMax) / leftMax) * h;
    const yl = (v: number): number => y0 + m.top + h - (v / loadMax) * h;
    const out: string[] = [`<text x="${m.left}" y="${y0 + 18}" class="title">${esc(t.title)}</text>`];
    const left = t.latency === true ? 'p99' : 'size';
    const legend: Array<[string, string]> = [[`${left}-line`, t.sizeLabel], ['load-line', t.loadLabel]];
    legend.forEach(([cls, label], k) => {
      const lx = m.left + k * 200;
      out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${y0 + 33}" y2="${y0 + 33}" class="${cls}"/><text x="${lx + 27}" y="${y0 + 37}" class="tick">${esc(label)}</text>`);
    });
    out.push(`<rect x="${m.left}" y="${y0 + m.top}" width="${w}" height="${h}" class="frame"/>`);
    for (const v of ticks(leftMax, 5, t.clip === undefined)) out.push(`<line x1="${m.left - 4}" x2="${m.left}" y1="${ys(v)}" y2="${ys(v)}" class="axis"/><text x="${m.left - 7}" y="${ys(v) + 4}" class="tick ${left}" text-anchor="end">${v}</text>`);
    for (const v of ticks(loadMax)) out.push(`<line x1="${m.left + w}" x2="${m.left + w + 4}" y1="${yl(v)}" y2="${yl(v)}" class="axis"/><text x="${m.left + w + 7}" y="${yl(v) + 4}" class="tick load">${v}</text>`);
    for (const sec of ticks(t.seconds, 10, true)) out.push(`<line x1="${x(sec)}" x2="${x(sec)}" y1="${y0 + m.top + h}" y2="${y0 + m.top + h + 4}" class="axis"/><text x="${x(sec)}" y="${y0 + m.top + h + 16}" class="tick" text-anchor="middle">${sec}</text>`);
    out.push(`<text x="${m.left + w / 2}" y="${y0 + m.top + h + 32}" class="label" text-anchor="middle">seconds since the load started</text>`);
    out.push(`<text transform="translate(${m.left - 42} ${y0 + m.top + h / 2}) rotate(-90)" class="label ${left}" text-anchor="middle">${esc(t.sizeLabel)}</text>`);
    out.push(`<text transform="translate(${m.left + w + 52} ${y0 + m.top + h / 2}) rotate(90)" class="label load" text-anchor="middle">${esc(t.loadLabel)}</text>`);
    for (const mk of t.marks) out.push(`<line x1="${x(mk.at)}" x2="${x(mk.at)}" y1="${y0 + m.top}" y2="${y0 + m.top + h}" class="mark"/><text x="${x(mk.at) + 4}" y="${y0 + m.top + 12}" class="tick">${esc(mk.label)}</text>`);
    if (t.threshold !== undefined) out.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${ys(t.threshold)}" y2="${ys(t.threshold)}" class="threshold"/>`);
    const steps = (vs: readonly number[], y: (v: number) => number): string =>
      `${vs.map((v, k) => (k === 0 ? `M${x(0).toFixed(1)} ${y(v).toFixed(1)}` : `H${x(k).toFixed(1)} V${y(v).toFixed(1)}`)).join(' ')} H${x(vs.length).toFixed(1)}`;
    out.push(`<path d="${steps(t.load, yl)}" class="load-line"/>`);
    out.push(`<path d="${steps(t.size, ys)}" class="${left}-line"/>`);
    panels.push(out.join('\n'));
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${all.length * panelH}" viewBox="0 0 ${W} ${all.length * panelH}" font-family="sans-serif">
<!-- Written by bench/autoscale.ts (BENCH_ONLY=autoscale npm run bench): one run's traces. -->
<style>
.title { font-size: 13px; font-weight: bold; } .tick { font-size: 10px; fill: #333; } .label { font-size: 11px; }
.frame { fill: none; stroke: #999; } .axis { stroke: #333; } .mark { stroke: #999; stroke-dasharray: 3 3; }
.threshold { stroke: #444; stroke-dasharray: 6 4; } .size { fill: #1f5fbf; } .p99 { fill: #c2410c; } .load { fill: #666; }
.size-line { fill: none; stroke: #1f5fbf; stroke-width: 2.2; } .p99-line { fill: none; stroke: #c2410c; stroke-width: 1.6; }
.load-line { fill: none; stroke: #888; stroke-width: 1.2; }
</style>
<rect width="100%" height="100%" fill="white"/>
${panels.join('\n')}
</svg>
`;
}

function niceMax(v: number): number {
  if (!Number.isFinite(v) || v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p;
  return 10 * p;
}

/** Tick values from 0 to `max`, about `want` of them; `whole`: integer steps only (sizes, seconds). */
function ticks(max: number, want = 5, whole = false): number[] {
  const raw = max / want;
  const p = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((v) => v >= raw) ?? raw;
  if (whole) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Math.round(v * 100) / 100);
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
