import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

export interface LoadOptions {
  readonly connections: number;
  readonly seconds: number;
  readonly method?: string;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** wrk only: cycle through these paths of the url's origin, one per request. */
  readonly paths?: readonly string[];
}

/** The median of a run's samples (the middle one; NaN for none). */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const HAS_WRK = spawnSync('wrk', ['--version']).error === undefined;

/** The load generator in use: wrk when installed (lighter on a 2-core box), else autocannon. */
export const LOAD_GENERATOR = HAS_WRK ? 'wrk -t1' : 'autocannon';

/** Drive `url` for `seconds` with `connections` keep-alive connections; latencies in ms. */
export async function load(url: string, options: LoadOptions): Promise<LoadResult> {
  return HAS_WRK ? wrk(url, options) : autocannon(url, options);
}

/** Asynchronous, so the benchmark can act while the load runs (the reload scenario resizes meanwhile). */
async function wrk(url: string, o: LoadOptions): Promise<LoadResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  let script: string | undefined;
  if (o.method !== undefined || o.body !== undefined) {
    script = `wrk.method = ${JSON.stringify(o.method ?? 'GET')}\n${o.body === undefined ? '' : `wrk.body = ${JSON.stringify(o.body)}\n`}`;
  }
  if (o.paths !== undefined) {
    script = `${script ?? ''}local paths = { ${o.paths.map((p) => JSON.stringify(p)).join(', ')} }\nlocal i = 0\n`
      + 'request = function() i = i + 1; return wrk.format(nil, paths[(i % #paths) + 1]) end\n';
  }
  // A file, not /dev/stdin: node's stdio pipes are socketpairs, which wrk cannot open by path (ENXIO).
  const dir = script === undefined ? undefined : mkdtempSync(join(tmpdir(), 'actorrt-wrk-'));
  if (dir !== undefined) {
    writeFileSync(join(dir, 'script.lua'), script as string);
    args.push('-s', join(dir, 'script.lua'));
  }
  let out: string;
  try {
    out = (await promisify(execFile)('wrk', [...args, url], { encoding: 'utf8' })).stdout;
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const pct = (p: string): number => toMs(new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out));
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketTotal = socketErrors === null ? 0 : socketErrors.slice(1).reduce((a, b) => a + Number(b), 0);
  return { rps, p50: pct('50'), p99: pct('99'), errors: Number(errors ?? 0) + socketTotal };
}

function toMs(m: RegExpExecArray | null): number {
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function autocannon(url: string, o: LoadOptions): Promise<LoadResult> {
  // In a child process so the generator does not share the benchmark's event loop.
  const args = ['autocannon', '-j', '-c', String(o.connections), '-d', String(o.seconds)];
  if (o.method !== undefined) args.push('-m', o.method);
  if (o.body !== undefined) args.push('-b', o.body);
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}=${v}`);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('npx', [...args, url], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`autocannon exited ${String(code)}`))));
  });
  const r = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.non2xx + r.errors };
}
