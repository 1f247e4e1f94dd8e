import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Repository root (bench runs from dist/bench). */
export const ROOT = join(HERE, '..', '..');

export interface Running {
  readonly port: number;
  /** The server's root process (its tree is what CPU per request sums over). */
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Start a server as a plain child of the benchmark (same session: the kernel's autogroup then
 * gives both sides the same CPU share) and wait for the line announcing its port.
 */
export function startServer(args: readonly string[], readyLine: RegExp, cwd = ROOT, env: NodeJS.ProcessEnv = {}, stderr?: number): Promise<Running> {
  // `stderr`: a descriptor (a file) to write to instead of a pipe this process reads, for servers that log a line per request.
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', stderr ?? 'pipe'], env: { ...process.env, ACTORRT_LOG_LEVEL: 'warn', ...env } });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    // Only the tail, for the error below: a server with its access log on writes a line per request.
    child.stderr?.on('data', (d: Buffer) => { err = (err.length > 65_536 ? err.slice(-16_384) : err) + d.toString(); });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = readyLine.exec(out);
      if (m !== null) resolve({ port: Number(m[1]), pid: child.pid as number, stop: () => stopChild(child) });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${String(code)} before it was ready:\n${err}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The bare node:http cluster baseline with `workers` workers (`mode` args: see bare-cluster.ts). */
export function startBare(workers: number, ...mode: string[]): Promise<Running> {
  return startServer([join(HERE, 'bare-cluster.js'), String(workers), ...mode], /listening (\d+)/);
}

/** fastify in node:cluster mode with `workers` workers, answering GET /hello/:name like the bare cluster. */
export function startFastify(workers: number): Promise<Running> {
  return startServer([join(HERE, 'fastify-cluster.js'), String(workers)], /listening (\d+)/);
}

/** `actorrt start <topology> --port 0 --workers N`, with this checkout's build or another's (`root`, whose dist/ is built); `env` adds variables; `stderr` as in startServer. */
export function startActorrt(topology: string, workers: number, root = ROOT, env: NodeJS.ProcessEnv = {}, stderr?: number): Promise<Running> {
  return startServer([join(root, 'dist', 'runtime', 'cli.js'), 'start', topology, '--port', '0', '--workers', String(workers)],
    /actorrt ready on http:\/\/[^:]+:(\d+)/, ROOT, env, stderr);
}

/**
 * BENCH_BASELINE=<another checkout, built>: the scenarios that take it (inline, proxy, cache) add
 * a row running the same topology on that build, so that "x of the previous main" is measured in
 * one run, side by side, as every ratio here is.
 */
export function baselineRows(name: string, topology: string, workers: number, path: string, env: NodeJS.ProcessEnv = {}): Array<{ name: string; start: () => Promise<Running>; path: string }> {
  const root = process.env['BENCH_BASELINE'];
  if (root === undefined || root === '') return [];
  return [{ name: `${name}, baseline build (${workers}w)`, start: () => startActorrt(topology, workers, root, env), path }];
}
