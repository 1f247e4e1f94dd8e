import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './load.js';
import { ROOT } from './servers.js';

/**
 * Issue 24, "Cold start": how long each kind of start takes, side by side in one run, medians of
 * `rounds` (each round takes every measurement once, in the same order):
 * - floors: `node -e 0` to its exit; a bare child process (fork, then its IPC `ready`); a bare
 *   node:cluster primary with 2 workers to `listening` (bench/bare-cluster.ts);
 * - `actorrt start` to the ready line: (a) examples/hello (2 front workers, TypeScript actors),
 *   (b) bench/topologies/cold-isolated.yml (2 front workers and an isolated pool of 2 processes);
 * - a new pool process (`actorrt scale hash.processes=3` on (b)): from its fork to its ready
 *   message, as the primary logs it (`child-ready`, startMs).
 * Targets: (a) <= 1.3x the bare cluster, (b) <= 2x, the new pool process <= 1.5x the bare child.
 * BENCH_BASELINE=<another checkout, built> adds (a) and (b) on that build.
 */
export async function coldStartScenario(rounds: number): Promise<void> {
  const hello = join(ROOT, 'examples', 'hello', 'actorrt.yml');
  const isolated = join(ROOT, 'bench', 'topologies', 'cold-isolated.yml');
  const baseline = process.env['BENCH_BASELINE'];
  const rows: Array<{ name: string; run: () => Promise<Sample> }> = [
    { name: 'node -e 0 (to exit)', run: nodeNothing },
    { name: 'bare child process (fork to IPC ready)', run: bareChild },
    { name: 'bare node:cluster, 2 workers (to listening)', run: () => toLine([join(ROOT, 'dist', 'bench', 'bare-cluster.js'), '2'], /listening \d+/) },
    { name: 'actorrt start hello, 2 workers (.ts)', run: () => startToReady(ROOT, hello) },
    { name: 'actorrt start, 2 workers + pool of 2 processes', run: () => startToReady(ROOT, isolated) },
    ...(baseline === undefined || baseline === '' ? [] : [
      // That build's bare cluster imported undici and better-sqlite3 in every process: what the targets were first set against.
      { name: 'baseline build: its bare cluster (to listening)', run: () => toLine([join(baseline, 'dist', 'bench', 'bare-cluster.js'), '2'], /listening \d+/) },
      { name: 'baseline build: hello, 2 workers', run: () => startToReady(baseline, hello) },
      { name: 'baseline build: 2 workers + pool of 2', run: () => startToReady(baseline, isolated) },
    ]),
    { name: 'new pool process (scale 2 -> 3: fork to ready)', run: () => newPoolProcess(isolated) },
  ];
  const samples = rows.map(() => [] as Sample[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, row] of rows.entries()) (samples[i] as Sample[]).push(await row.run());
  }
  const med = (name: string): number => median((samples[rows.findIndex((r) => r.name === name)] ?? []).map((x) => x.ms));
  process.stdout.write(`\n## cold start (medians of ${rounds}; wall ms to ready, and CPU ms of the whole process tree by then)\n`
    + `${''.padEnd(52)}${'wall'.padStart(7)}${'CPU'.padStart(7)}\n`);
  for (const [i, row] of rows.entries()) {
    const runs = samples[i] as Sample[];
    const cpu = median(runs.map((x) => x.cpu ?? NaN));
    process.stdout.write(`${row.name.padEnd(52)}${median(runs.map((x) => x.ms)).toFixed(0).padStart(7)}${(Number.isNaN(cpu) ? '' : cpu.toFixed(0)).padStart(7)}`
      + `   runs: ${runs.map((x) => x.ms.toFixed(0)).join(' / ')}\n`);
  }
  const bare = med('bare node:cluster, 2 workers (to listening)');
  const child = med('bare child process (fork to IPC ready)');
  const target = (what: string, value: number, floor: number, limit: number): string =>
    `${what.padEnd(52)}${(value / floor).toFixed(2).padStart(6)}x (target <= ${limit}x: ${value / floor <= limit ? 'met' : 'missed'})\n`;
  process.stdout.write(target('hello start / bare cluster', med('actorrt start hello, 2 workers (.ts)'), bare, 1.3)
    + target('isolated pool start / bare cluster', med('actorrt start, 2 workers + pool of 2 processes'), bare, 2)
    + target('new pool process / bare child process', med('new pool process (scale 2 -> 3: fork to ready)'), child, 1.5));
}

/** One measurement: wall time, and the CPU time of the process tree when it was taken (where it was). */
interface Sample { readonly ms: number; readonly cpu?: number }

function nodeNothing(): Promise<Sample> {
  const t0 = performance.now();
  spawnSync(process.execPath, ['-e', '0']);
  return Promise.resolve({ ms: performance.now() - t0 });
}

/** The least a pool process could take: fork node, which says ready over IPC as soon as it runs. */
function bareChild(): Promise<Sample> {
  const t0 = performance.now();
  // As node's fork() starts a child: an IPC channel on fd 3 (fork itself takes a module file, not -e).
  const child = spawn(process.execPath, ['-e', "process.send('ready', () => process.exit(0))"], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve({ ms: performance.now() - t0 }));
    child.once('error', reject);
  });
}

interface Started { readonly ms: number; readonly cpu: number; readonly child: ChildProcess; readonly stderr: () => string }

/** Spawn `args` and time it until stdout has a line matching `line`. */
function spawnToLine(args: readonly string[], line: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ACTORRT_LOG_LEVEL: 'warn', ...env } });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (line.test(out)) resolve({ ms: performance.now() - t0, cpu: treeCpu(child.pid), child, stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${String(code)} before it was ready:\n${err}`)));
  });
}

async function toLine(args: readonly string[], line: RegExp): Promise<Sample> {
  const started = await spawnToLine(args, line);
  await stop(started.child);
  return { ms: started.ms, cpu: started.cpu };
}

const READY = /actorrt ready on http:\/\//;

/** `actorrt start <topology> --port 0 --workers 2` with `root`'s build, to its ready line; its pid file in a temp folder. */
async function startToReady(root: string, topology: string): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-cold-'));
  try {
    const started = await spawnToLine(startArgs(root, topology, dir), READY);
    await stop(started.child);
    return { ms: started.ms, cpu: started.cpu };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function startArgs(root: string, topology: string, dir: string): string[] {
  return [join(root, 'dist', 'runtime', 'cli.js'), 'start', topology, '--port', '0', '--workers', '2', '--no-watch', '--pid-file', join(dir, 'pid')];
}

/** Start (b), scale its pool from 2 to 3 processes, and read the new process's fork-to-ready time from the primary's debug line. */
async function newPoolProcess(topology: string): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-cold-'));
  try {
    const started = await spawnToLine(startArgs(ROOT, topology, dir), READY, { ACTORRT_LOG_LEVEL: 'debug' });
    try {
      const scale = spawn(process.execPath, [join(ROOT, 'dist', 'runtime', 'cli.js'), 'scale', topology, 'hash.processes=3', '--pid-file', join(dir, 'pid')], { stdio: 'ignore' });
      const code = await new Promise<number | null>((resolve) => scale.once('exit', resolve));
      if (code !== 0) throw new Error(`actorrt scale exited with ${String(code)}`);
      // scale returns once the new process is ready: its line was written before, and may still be in the pipe.
      let ms: unknown;
      for (let waited = 0; ms === undefined && waited < 5000; waited += 50) {
        ms = started.stderr().split('\n').map(parse).find((l) => l?.['event'] === 'child-ready' && l['pool'] === 'hash' && l['process'] === 2)?.['startMs'];
        if (ms === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (typeof ms !== 'number') throw new Error('the primary logged no child-ready line for the new process');
      return { ms };
    } finally {
      await stop(started.child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parse(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * CPU time (user + system, ms) used so far by process `root` and every process under it, from
 * /proc (Linux; NaN elsewhere): on a shared machine, wall time to ready swings with whatever else
 * runs, CPU time much less, so both are shown. Ticks of 10 ms (CLK_TCK 100).
 */
function treeCpu(root: number | undefined): number {
  if (root === undefined) return NaN;
  try {
    const stats = new Map<number, { ppid: number; ticks: number }>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const text = readFileSync(`/proc/${name}/stat`, 'utf8');
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
        // After "pid (comm) ": state ppid ... utime is the 12th field on, stime the 13th.
        stats.set(Number(name), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
      } catch { /* exited meanwhile */ }
    }
    let ticks = 0;
    const under = new Set([root]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, s] of stats) {
        if (!under.has(pid) && under.has(s.ppid)) { under.add(pid); grew = true; }
      }
    }
    for (const pid of under) ticks += stats.get(pid)?.ticks ?? 0;
    return ticks * 10;
  } catch {
    return NaN;
  }
}
