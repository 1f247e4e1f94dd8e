import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@keyv/redis';
import { ensureSuite, SUITE } from './conformance-suite.js';
import { parseClientReport, score, type Score, type TestReport } from './conformance-report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Repository root (this runs from dist/bench). */
const ROOT = join(HERE, '..', '..');
const CLI = join(ROOT, 'dist', 'runtime', 'cli.js');
/** Where the suite's tarball and unpacked copy are kept between runs. */
export const SUITE_CACHE = join(ROOT, 'node_modules', '.cache', 'actorrt-conformance');

/**
 * The cache key of the conformance route by default: the route's own default, `{method}:{url}`
 * (method and target URI, RFC 9111 section 2). `--key "{method}:{path}"` measures the key the
 * issue was filed with; `{path}` has no query string, so the suite's `query-args-different` fails
 * for that reason alone.
 */
export const CACHE_KEY = '{method}:{url}';

export interface ConformanceOptions {
  /** The route's key template (default CACHE_KEY). */
  readonly key?: string;
  /** The route's store: memory (default) or Redis. */
  readonly store?: 'memory' | 'redis';
  /** Redis for `store: 'redis'` (redis://127.0.0.1:6379); a namespace of this run's own is used and emptied afterwards. */
  readonly redisUrl?: string;
  /** Front workers (default 1; a memory store is per process, so more workers miss more). */
  readonly workers?: number;
  /** Run this test alone, with the suite's dump of requests and responses (see `onOutput`). */
  readonly id?: string;
  /** Receives the suite's dumps (client and server) as they are printed; only `id` runs print them. */
  readonly onOutput?: (text: string) => void;
  /** Stops the run (every process it started), which then rejects. */
  readonly signal?: AbortSignal;
  /** The whole run's deadline in ms (default 15 min). */
  readonly timeout?: number;
}

export interface ConformanceResult {
  readonly suite: { readonly name: string; readonly version: string };
  readonly store: 'memory' | 'redis';
  readonly workers: number;
  readonly cacheKey: string;
  /** Wall time of the whole run (ms): instance start-up, suite and shutdown (not the first download). */
  readonly durationMs: number;
  /** How long the suite's client ran (ms). */
  readonly suiteMs: number;
  readonly score: Score;
  /** Every test that ran against a cache other than a browser's, in the suite's order. */
  readonly tests: readonly TestReport[];
}

const READY_WITHIN = 30_000;
/** The default deadline of a whole run (one takes about 30 s on an idle machine). */
const RUN_WITHIN = 900_000;
const STOP_WITHIN = 30_000;

/**
 * Run the public HTTP cache test suite (http-cache-tests 0.4.5, as its cli.mjs does for a reverse
 * proxy: every suite plus Surrogate-Control) against a real `actorrt start` whose `/test/*` route
 * proxies to the suite's server with a route cache. Everything it starts (the suite's server, the
 * instance, the client) is stopped and its temp folder removed before it settles, pass or fail.
 * The first run downloads the suite (ensureSuite).
 * @throws Error when the harness itself fails (download, a process that does not start, Redis
 * unreachable, abort, timeout); the score is never a reason to throw.
 */
export async function runConformance(options: ConformanceOptions = {}): Promise<ConformanceResult> {
  const store = options.store ?? 'memory';
  const workers = options.workers ?? 1;
  const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const timeout = options.timeout ?? RUN_WITHIN;
  const suiteDir = await ensureSuite(SUITE_CACHE);
  const redis = store === 'redis' ? await connectRedis(redisUrl) : undefined;
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'actorrt-conformance-'));
  const running: Proc[] = [];
  const namespace = `actorrt-conformance-${process.pid}-${randomBytes(4).toString('hex')}`;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error(`the conformance run did not finish within ${timeout / 1000} s`)), timeout);
  const onAbort = (): void => stop.abort(options.signal?.reason ?? new Error('the conformance run was stopped'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();
  try {
    const origin = launch('the suite\'s server', [join(HERE, 'conformance-origin.js'), suiteDir], {
      cwd: suiteDir,
      env: { ...withoutNpmConfig(process.env), npm_config_protocol: 'http', npm_config_port: '0', npm_config_pidfile: join(work, 'origin.pid') },
    }, running);
    const originUrl = `http://127.0.0.1:${await origin.waitFor(/Listening on http:\/\/[^\s]*:(\d+)\//, stop.signal)}`;
    if (options.onOutput !== undefined) origin.forward(options.onOutput);

    const topology = join(work, 'actorrt.yml');
    writeFileSync(topology, conformanceTopology(originUrl, store === 'redis' ? { url: redisUrl, namespace } : undefined, options.key ?? CACHE_KEY));
    const pidFile = join(work, 'actorrt.pid');
    const app = launch('actorrt', [CLI, 'start', topology, '--port', '0', '--workers', String(workers), '--pid-file', pidFile, '--no-watch'], {
      cwd: work, env: { ...process.env, ACTORRT_LOG_LEVEL: 'warn' },
    }, running, () => removeRuntimeDir(pidFile));
    const baseUrl = await app.waitFor(/actorrt ready on (http:\/\/\S+)/, stop.signal);

    const resultFile = join(work, 'result.json');
    const client = launch('the suite\'s client', [join(HERE, 'conformance-client.js'), suiteDir, baseUrl, resultFile, ...(options.id === undefined ? [] : [options.id])], {
      cwd: work, env: process.env,
    }, running);
    if (options.onOutput !== undefined) client.forward(options.onOutput);
    const code = await client.exit(stop.signal);
    if (code !== 0) throw new Error(`the suite's client exited with ${String(code)}:\n${client.output()}`);
    // A score measured against a server that died on the way would only say that it died.
    for (const [proc, what] of [[app, 'actorrt'], [origin, 'the suite\'s server']] as const) {
      if (!proc.running()) throw new Error(`${what} exited during the run:\n${proc.output()}`);
    }
    const report = parseClientReport(readFileSync(resultFile, 'utf8'));
    await stopAll(running);
    return {
      suite: { name: SUITE.name, version: SUITE.version }, store, workers, cacheKey: options.key ?? CACHE_KEY,
      durationMs: Date.now() - started, suiteMs: report.durationMs, score: score(report.tests), tests: report.tests,
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    try {
      await stopAll(running);
    } finally {
      if (redis !== undefined) await forget(redis, namespace);
      rmSync(work, { recursive: true, force: true });
    }
  }
}

/**
 * The topology under test: `/test/*` proxied to the suite's server through a route cache, and the
 * suite's own exchanges (`/config/*`: PUT of a test's script; `/state/*`: what the server saw),
 * which client/utils.mjs sends through the base URL too, proxied uncached. The upstream gets no
 * retries: the suite counts the requests its server sees, and drops connections on purpose in the
 * stale-if-error tests, so a retry would read as the cache's (↻). A Redis store gets 1 s per
 * operation instead of 50 ms: the suite measures what the cache answers, and on a busy machine a
 * Redis answer later than 50 ms turns the store into misses for a second (and an unlock that timed
 * out leaves its key locked for the route's timeout, ~30 s, for the next request): one such run
 * scored 34 required instead of 41, in 73 s instead of 23.
 */
export function conformanceTopology(originUrl: string, redis: { url: string; namespace: string } | undefined, key: string): string {
  return `# Written by the conformance run (bench/conformance-run.ts).
version: 1
http: { host: 127.0.0.1 }
resources:
  origin: { type: http, origins: ["${originUrl}"], retries: 0 }
${redis === undefined ? '' : `  redis: { type: redis, url: "${redis.url}" }\n`}caches:
  conformance: ${redis === undefined ? '{ store: memory }' : `{ store: redis, resource: redis, namespace: "${redis.namespace}", timeout: 1s }`}
routes:
  - match: { path: /test/* }
    proxy: origin
    cache: { use: conformance, key: ${JSON.stringify(key)} }
  - match: { path: /config/* }
    proxy: origin
  - match: { path: /state/* }
    proxy: origin
`;
}

/** A child process of the run, its output kept for error messages. */
interface Proc {
  output(): string;
  /** Resolves to the first capture group of `pattern` once stdout has it; rejects when the process exits first. */
  waitFor(pattern: RegExp, signal: AbortSignal): Promise<string>;
  /** From now on, also hand stdout to `to` as it comes. */
  forward(to: (text: string) => void): void;
  exit(signal: AbortSignal): Promise<number | null>;
  running(): boolean;
  stop(): Promise<void>;
}

/** How much of a child's output is kept for an error message. */
const OUTPUT_KEPT = 64 * 1024;

function launch(what: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }, running: Proc[],
  afterExit: () => void = () => undefined): Proc {
  const child: ChildProcess = spawn(process.execPath, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let forwardTo: ((text: string) => void) | undefined;
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-OUTPUT_KEPT); };
  child.stdout?.on('data', (d: Buffer) => { keep(d); forwardTo?.(d.toString()); });
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('exit', (code) => { afterExit(); resolve(code); });
  });
  // Never leave a child behind if this process ends first (an uncaught error, process.exit).
  const reap = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));
  const aborted = (signal: AbortSignal): Promise<never> => new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  const proc: Proc = {
    output: () => out,
    forward: (to) => { forwardTo = to; },
    waitFor: (pattern, signal) => Promise.race([aborted(signal), new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} printed no ready line within ${READY_WITHIN / 1000} s:\n${out}`)), READY_WITHIN);
      const look = (): void => {
        const m = pattern.exec(out);
        if (m === null) return;
        clearTimeout(timer);
        child.stdout?.off('data', look);
        resolve(m[1] ?? m[0]);
      };
      child.stdout?.on('data', look);
      look();
      void exited.then((code) => { clearTimeout(timer); reject(new Error(`${what} exited with ${String(code)} before it was ready:\n${out}`)); });
    })]),
    exit: (signal) => Promise.race([aborted(signal), exited]),
    running: () => child.exitCode === null && child.signalCode === null,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return void await exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_WITHIN);
      await exited;
      clearTimeout(timer);
    },
  };
  running.push(proc);
  return proc;
}

/** Stop in reverse start order (the client, the instance, then the origin it proxies to). */
async function stopAll(running: Proc[]): Promise<void> {
  for (const proc of running.splice(0).reverse()) await proc.stop();
}

/** A primary killed with SIGKILL cannot remove its runtime folder (the pid file's second line). */
function removeRuntimeDir(pidFile: string): void {
  let runtimeDir: string | undefined;
  try { runtimeDir = readFileSync(pidFile, 'utf8').split('\n')[1]?.trim(); } catch { return; }
  if (runtimeDir !== undefined && runtimeDir.startsWith(join(tmpdir(), 'actorrt-'))) rmSync(runtimeDir, { recursive: true, force: true });
}

/** The suite's server reads npm_config_* before npm_package_config_*: none of `npm run`'s may leak in. */
function withoutNpmConfig(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('npm_config_') && !key.startsWith('npm_package_config_')));
}

function redisClient(url: string) {
  return createClient({ url, socket: { connectTimeout: 5000, reconnectStrategy: false } });
}
type Redis = ReturnType<typeof redisClient>;

/** A client of our own, to find out now that Redis is there (a store that cannot reach it only misses) and to empty the namespace afterwards. */
async function connectRedis(url: string): Promise<Redis> {
  const client = redisClient(url);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (err) {
    throw new Error(`--store redis: Redis at ${url} is unreachable (${(err as Error).message}); start it, or run with the memory store`);
  }
}

async function forget(client: Redis, namespace: string): Promise<void> {
  try {
    for await (const keys of client.scanIterator({ MATCH: `${namespace}:*` })) if (keys.length > 0) await client.unlink(keys);
  } finally {
    if (client.isOpen) await client.close();
  }
}
