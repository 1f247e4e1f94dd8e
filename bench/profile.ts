import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBetween, treeCpu } from './cpu.js';
import { report, type Row } from './http.js';
import { load, LOAD_GENERATOR, median } from './load.js';
import { ROOT, startActorrt } from './servers.js';

const HELLO = join(ROOT, 'examples', 'hello', 'actorrt.yml');
const CLI = join(ROOT, 'dist', 'runtime', 'cli.js');

/** An `actorrt profile` run: resolves once it has sent its request (its first line), and again when it exits. */
function profiling(args: readonly string[]): { sent: Promise<void>; done: Promise<string> } {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'profile', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let sent!: () => void;
  const started = new Promise<void>((resolve) => { sent = resolve; });
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('\n')) sent();
  });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const done = new Promise<string>((resolve) => child.once('exit', (code) => {
    sent();
    resolve(code === 0 ? out : `exit ${String(code)}: ${out}`);
  }));
  return { sent: started, done };
}

/**
 * Issue 22's cost target for `actorrt profile`: the inline route's req/s (and CPU per request)
 * while a CPU profile runs, side by side with none, in one run: no profile, a profile of one
 * front worker (what an operator does), and a profile of every front worker at once (the worst
 * case). Each profile is as long as the measurement and starts when it does (after the warm-up),
 * so its start (V8 logs every compiled function) and its stop (the profile built, mapped and
 * written by the worker) fall inside the window. Variants alternate their order every round.
 */
export async function profileScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const variants = [
    { name: `inline, no profile (${workers}w)`, profiled: 0 },
    { name: 'inline, CPU profile of 1 worker', profiled: 1 },
    { name: `inline, CPU profile of all ${workers} workers`, profiled: workers },
  ];
  const rows: Row[] = variants.map((v) => ({ name: v.name, runs: [] }));
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-bench-profile-'));
  const samples: string[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants.map((_, i) => i) : variants.map((_, i) => variants.length - 1 - i);
      for (const i of order) {
        const variant = variants[i] as (typeof variants)[number];
        const server = await startActorrt(HELLO, workers);
        try {
          const url = `http://127.0.0.1:${server.port}/hello/bench`;
          await load(url, { connections: 64, seconds: 2 });
          const profiles = Array.from({ length: variant.profiled }, (_, w) => profiling([
            'front', HELLO, '--process', String(w), '--seconds', String(seconds), '--out', join(dir, `r${round}-w${w}.cpuprofile`),
          ]));
          await Promise.all(profiles.map((p) => p.sent));
          const before = treeCpu(server.pid);
          const result = await load(url, { connections: 64, seconds });
          const cpuUs = cpuBetween(before, treeCpu(server.pid)) / Math.max(1, result.rps * seconds);
          (rows[i] as Row).runs.push({ ...result, cpuUs });
          for (const out of await Promise.all(profiles.map((p) => p.done))) samples.push(/: (\d+) samples/.exec(out)?.[1] ?? out.trim());
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report(`actorrt profile cost, inline route under ${LOAD_GENERATOR} -c64 while a ${seconds} s CPU profile runs, ${seconds}s x ${rounds} (target: >= 0.99x req/s of no profile)`, rows);
  const rps = (i: number): number => median((rows[i]?.runs ?? []).map((r) => r.rps));
  process.stdout.write(`profile of 1 worker / none: ${(rps(1) / rps(0)).toFixed(3)}x req/s; of all ${workers}: ${(rps(2) / rps(0)).toFixed(3)}x`
    + ` (samples per profile: ${samples.join(', ')})\n`);
}
