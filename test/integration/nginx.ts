import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import { startNginx, type Nginx } from '../../bench/nginx.js';
import { eventually, writeProject } from '../helpers.js';
import { runCli, startInstance, type Instance } from './instance.js';
import { needTools } from './services.js';

/**
 * Several actorrt instances behind a real nginx running examples/deploy/nginx/nginx.conf (only its
 * upstream servers and listen port substituted: bench/nginx.ts), for tests of what holds across
 * instances. Each instance is a real `actorrt start` on its own port of 127.0.0.1, kept across a
 * stop and start (nginx's upstream list is fixed), with a pid file of its own.
 */

export { NGINX_EXAMPLE, type Nginx } from '../../bench/nginx.js';

/** Why tests that need nginx must be skipped (false when installed; under CI=true a missing nginx throws). */
export const nginxMissing = (): string | false => needTools(['nginx'], 'apt-get install nginx-light');

/** One actorrt instance of a ScaleOut. */
export interface Backend {
  /** 0, 1, ... in the order of the upstream's server lines. */
  readonly index: number;
  readonly port: number;
  /** `127.0.0.1:PORT`: how nginx's access log names it in `upstream=`. */
  readonly address: string;
  /** Its own URL, bypassing nginx: http://127.0.0.1:PORT */
  readonly url: string;
  /** The topology file it runs. */
  readonly topology: string;
  /** The running instance; throws while stopped. */
  current(): Instance;
  running(): boolean;
  /** Stop it (SIGTERM by default: a graceful drain) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Start it again on the same port (it must be stopped); resolves at its ready line. */
  start(): Promise<Instance>;
  /** Run `actorrt <command> --pid-file <its pid file> ...args` (`reload`, `status`, `scale`) to completion. */
  cli(command: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** N instances and the nginx in front of them, as startScaleOut made them. */
export interface ScaleOut {
  /** nginx's URL: http://127.0.0.1:PORT */
  readonly url: string;
  readonly nginx: Nginx;
  readonly instances: readonly Backend[];
  /** The folder of the topology files and the files given with them. */
  readonly dir: string;
  /**
   * Wait until nginx's access log shows a 2xx answered by `backend` alone (no retry) that ended
   * after `since` (a Date.now()): after a restart, once that holds, nginx sends it requests again.
   * The test's own load must be running: this only watches the log.
   */
  servedBy(backend: Backend, since: number, timeout?: number): Promise<void>;
  /** Stop nginx and every instance (also done when the test ends, pass or fail). */
  stop(): Promise<void>;
}

export interface ScaleOutOptions {
  /** Topology text: one for every instance, or one per index (written beside each other, with `files`). */
  readonly topology: string | ((index: number) => string);
  /** Files written into the topology's folder (actor modules ...): relative path -> content. */
  readonly files?: Record<string, string>;
  /** How many instances (default 3). */
  readonly instances?: number;
  /** Environment variables added for every instance, or per index. */
  readonly env?: NodeJS.ProcessEnv | ((index: number) => NodeJS.ProcessEnv);
  /** Extra arguments of `actorrt start` (`--workers 1`, `--no-watch`). */
  readonly args?: readonly string[];
}

/**
 * Start `instances` actorrt instances (in parallel, each on a free port of 127.0.0.1) and the example
 * nginx in front of them; everything is stopped when `t` ends, pass or fail (and killed if the test
 * process exits first). The topology should set `http.host: 127.0.0.1` and `http.trustProxy` to
 * include loopback (nginx's address), like examples/deploy/nginx/actorrt.yml.
 */
export async function startScaleOut(t: { after(fn: () => unknown): void }, options: ScaleOutOptions): Promise<ScaleOut> {
  const count = options.instances ?? 3;
  const text = (i: number): string => (typeof options.topology === 'string' ? options.topology : options.topology(i));
  const first = writeProject(text(0), options.files);
  const dir = dirname(first);
  const topologies = Array.from({ length: count }, (_, i) => {
    if (typeof options.topology === 'string' || i === 0) return first;
    const file = join(dir, `actorrt-${i}.yml`);
    writeFileSync(file, text(i));
    return file;
  });
  const envOf = (i: number): NodeJS.ProcessEnv => (typeof options.env === 'function' ? options.env(i) : options.env ?? {});
  const args = options.args ?? [];

  const launch = (i: number, port: number): Promise<Instance> => startInstance(topologies[i] as string, ['--port', String(port), ...args], t, envOf(i));
  // Port 0 the first time: the instance binds a free port itself, which it keeps across restarts.
  const initial = await Promise.allSettled(topologies.map((_, i) => launch(i, 0)));
  const failed = initial.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  const backends = initial.map((r, index) => {
    let instance: Instance | undefined = (r as PromiseFulfilledResult<Instance>).value;
    const port = Number(new URL(instance.url).port);
    const backend: Backend = {
      index, port, address: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}`, topology: topologies[index] as string,
      current: () => {
        assert.ok(instance !== undefined, `instance ${index} (port ${port}) is stopped`);
        return instance;
      },
      running: () => instance !== undefined && instance.child.exitCode === null && instance.child.signalCode === null,
      stop: async (signal = 'SIGTERM') => {
        const stopping = instance;
        instance = undefined;
        return stopping === undefined ? null : stopping.stop(signal);
      },
      start: async () => {
        assert.equal(instance, undefined, `instance ${index} is already running`);
        instance = await launch(index, port);
        return instance;
      },
      cli: (command, ...rest) => runCli([command, '--pid-file', backend.current().pidFile, ...rest], 120_000),
    };
    return backend;
  });

  const nginx = await startNginx(backends.map((b) => b.address));
  const stop = async (): Promise<void> => {
    await nginx.stop();
    // Every instance is stopped even when one fails to (a stop that hangs kills it, then fails).
    const stopped = await Promise.allSettled(backends.map((b) => b.stop()));
    const failure = stopped.find((s) => s.status === 'rejected');
    if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
  };
  t.after(stop);

  const servedBy = async (backend: Backend, since: number, timeout = 30_000): Promise<void> => {
    const mark = ` upstream=${backend.address} ustatus=2`;
    const lines = (): string[] => nginx.accessLog().split('\n')
      .filter((line) => Number(/ msec=([\d.]+)/.exec(line)?.[1] ?? 0) * 1000 >= since);
    await eventually(`nginx sends requests to instance ${backend.index} (${backend.address}) again`, () => lines().some((line) => line.includes(mark)),
      timeout, () => lines().slice(-5).join('\n'), 100);
  };

  return { url: nginx.url, nginx, instances: backends, dir, servedBy, stop };
}

/** One request a MixedLoad sends. */
export interface LoadRequest {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What a MixedLoad saw. */
export interface LoadOutcome {
  readonly total: number;
  /** Answers outside 2xx, by status. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Requests that got no answer (connection refused or reset, ...), by error code. */
  readonly errors: Readonly<Record<string, number>>;
  /** The first failures: `METHOD path -> status body` or `METHOD path -> CODE message`. */
  readonly failures: readonly string[];
}

/** A load loop started by mixedLoad. */
export interface MixedLoad {
  /** Requests answered so far (to wait until the load has made progress). */
  done(): number;
  /** Stop the loops (idempotent) and say what they saw. */
  stop(): Promise<LoadOutcome>;
}

const FAILURES_KEPT = 50;

/**
 * `concurrency` undici loops through `url` until stopped, each sending `requests` in turn (offset
 * by its index), counting every answer outside 2xx and every request without an answer. Stopped
 * when `t` ends, pass or fail.
 */
export function mixedLoad(url: string, requests: readonly LoadRequest[], concurrency: number, t: { after(fn: () => unknown): void }): MixedLoad {
  const agent = new Agent({ connections: concurrency });
  let running = true;
  let total = 0;
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const failures: string[] = [];
  const loop = async (i: number): Promise<void> => {
    for (let n = i; running; n++) {
      const r = requests[n % requests.length] as LoadRequest;
      try {
        const res = await request(`${url}${r.path}`, {
          dispatcher: agent, method: r.method as 'GET', ...(r.body === undefined ? {} : { body: r.body }), ...(r.headers === undefined ? {} : { headers: r.headers }),
        });
        const text = await res.body.text();
        total++;
        if (res.statusCode < 200 || res.statusCode > 299) {
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (failures.length < FAILURES_KEPT) failures.push(`${r.method} ${r.path} -> ${res.statusCode} ${text.slice(0, 300)}`);
        }
      } catch (err) {
        total++;
        const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
        errors[code] = (errors[code] ?? 0) + 1;
        if (failures.length < FAILURES_KEPT) failures.push(`${r.method} ${r.path} -> ${code} ${(err as Error).message}`);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, (_, i) => loop(i));
  let stopped: Promise<LoadOutcome> | undefined;
  const load: MixedLoad = {
    done: () => total,
    stop() {
      running = false;
      stopped ??= (async () => {
        await Promise.all(loops);
        await agent.close();
        return { total, statuses, errors, failures };
      })();
      return stopped;
    },
  };
  t.after(() => load.stop());
  return load;
}

/** The access-log lines (after `since`) where nginx tried more than one instance or answered outside 2xx: what a failure report shows. */
export function retriedOrFailed(accessLog: string, since = 0): string[] {
  return accessLog.slice(since).split('\n').filter((line) => / upstream=\S+, /.test(line) || /" [345]\d\d \d+ upstream=/.test(line));
}

/**
 * nginx's error.log lines counted by what they say (level and message, without the time, pids,
 * connection number, client and request): `[warn] upstream server temporarily disabled while
 * connecting to upstream` -> 3. What a deploy cost at the proxy, for a report.
 */
export function errorLogSummary(errorLog: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of errorLog.split('\n')) {
    const m = /^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?)(?:, client: .*)?$/.exec(line);
    if (m === null) continue;
    const what = `[${m[1] as string}] ${m[2] as string}`;
    counts[what] = (counts[what] ?? 0) + 1;
  }
  return counts;
}
