import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './servers.js';

/**
 * nginx in front of actorrt instances, for the scale-out benchmark and the integration tests
 * (test/integration/nginx.ts): both run the example examples/deploy/nginx/nginx.conf itself, with
 * only its upstream servers and listen port substituted.
 */

/** The example configuration the tests and the benchmark render. */
export const NGINX_EXAMPLE = join(ROOT, 'examples', 'deploy', 'nginx', 'nginx.conf');

const BEGIN = '# BEGIN actorrt instances';
const END = '# END actorrt instances';
const LISTEN = /^(\s*listen\s+)\S+?(;\s*# listen port\s*)$/m;
/** How long nginx may take to listen (it takes milliseconds). */
const READY_WITHIN = 10_000;
/** How long nginx may take to exit on SIGTERM before it is killed. */
const STOP_WITHIN = 10_000;

/**
 * The example with the `server` lines between the "actorrt instances" markers replaced by one per
 * address of `servers` (`host:port`), each with the parameters of the example's first server
 * line (max_fails, fail_timeout, ...), and the port of the line marked "listen port" replaced by
 * `listen` (on 127.0.0.1). Throws when a marker or the first server line is missing.
 */
export function renderNginxConf(template: string, listen: number, servers: readonly string[]): string {
  const lines = template.split('\n');
  const begin = lines.findIndex((l) => l.trim() === BEGIN);
  const end = lines.findIndex((l) => l.trim() === END);
  if (begin < 0 || end < begin) throw new Error(`nginx config: the "${BEGIN}" / "${END}" markers around the upstream servers are missing`);
  const first = lines.slice(begin + 1, end).map((l) => /^(\s*)server\s+\S+([^;]*);/.exec(l)).find((m) => m !== null);
  if (first === undefined || first === null) throw new Error('nginx config: no `server host:port ...;` line between the actorrt instances markers');
  const [, indent, params] = first as RegExpExecArray;
  const block = servers.map((s) => `${indent ?? ''}server ${s}${params ?? ''};`);
  const text = [...lines.slice(0, begin + 1), ...block, ...lines.slice(end)].join('\n');
  if (!LISTEN.test(text)) throw new Error('nginx config: no `listen ...;  # listen port` line');
  return text.replace(LISTEN, `$1127.0.0.1:${listen}$2`);
}

/** A free TCP port on 127.0.0.1 (free when asked: bind it soon). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A running nginx master (and its workers) started by startNginx. */
export interface Nginx {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The master's pid: its tree holds the worker processes (what CPU per request sums over). */
  readonly pid: number;
  /** The prefix folder: nginx.conf as rendered, logs/, temp/ (removed by stop). */
  readonly dir: string;
  /** The rendered configuration. */
  readonly conf: string;
  /** error.log (warn and above) so far, plus what nginx wrote on stderr. */
  errorLog(): string;
  /** logs/access.log so far (written by nginx at most a second late: buffer=64k flush=1s). */
  accessLog(): string;
  /** SIGTERM (fast shutdown), wait for the exit (killing the process group past 10 s), remove the prefix folder. Idempotent. */
  stop(): Promise<void>;
  readonly exited: Promise<number | null>;
}

/**
 * Start nginx on `template` (default: the example) rendered for `servers` (`host:port` each), on a
 * free port of 127.0.0.1, in a fresh prefix folder (/tmp/actorrt-nginx-*), in the foreground
 * (`daemon off`), in a process group of its own (so that its workers go with it even when the
 * master has to be killed); resolves once it accepts connections. Running as root, its workers
 * run as root too (`user root`): the prefix folder is private to this user.
 */
export async function startNginx(servers: readonly string[], template = NGINX_EXAMPLE): Promise<Nginx> {
  let last: Error | undefined;
  // The port is free when asked but not held: another process may take it first. Try another one.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(servers, readFileSync(template, 'utf8'), await freePort());
    } catch (err) {
      last = err as Error;
      if (!/Address already in use/.test(last.message)) throw last;
    }
  }
  throw last as Error;
}

async function startOnce(servers: readonly string[], template: string, port: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-nginx-'));
  mkdirSync(join(dir, 'logs'));
  mkdirSync(join(dir, 'temp'));
  const conf = renderNginxConf(template, port, servers);
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const errorFile = join(dir, 'error.log');
  const asRoot = process.getuid?.() === 0 ? ' user root;' : '';
  const child = spawn('nginx', ['-p', dir, '-c', confFile, '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${errorFile} warn;${asRoot}`], {
    stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const spawned = new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const group = (signal: NodeJS.Signals): void => {
    try { if (child.pid !== undefined) process.kill(-child.pid, signal); } catch { /* already gone */ }
  };
  const reap = (): void => group('SIGKILL');
  process.once('exit', reap);
  const read = (file: string): string => { try { return readFileSync(file, 'utf8'); } catch { return ''; } };
  const errorLog = (): string => `${read(errorFile)}${stderr}`;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => group('SIGKILL'), STOP_WITHIN);
      await exited;
      clearTimeout(timer);
      group('SIGKILL'); // a worker the master left behind (never, after a clean exit)
      process.off('exit', reap);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    await spawned;
    const deadline = Date.now() + READY_WITHIN;
    let gone = false;
    void exited.then(() => { gone = true; });
    while (!(await accepts(port))) {
      if (gone) throw new Error(`nginx exited before it listened on 127.0.0.1:${port}:\n${errorLog()}`);
      if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${READY_WITHIN} ms:\n${errorLog()}`);
      await sleep(20);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `http://127.0.0.1:${port}`, port, pid: child.pid as number, dir, conf, exited, stop, errorLog,
    accessLog: () => read(join(dir, 'logs', 'access.log')),
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
