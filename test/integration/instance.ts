import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { Agent, Client, request } from 'undici';
import { adminRequest } from '../../runtime/primary/admin.js';
import { PidFile } from '../../runtime/primary/pid-file.js';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { CLI, ROOT, tempDir, within } from '../helpers.js';

/** A running `actorrt start` child process, as a user would start it. */
export interface Instance {
  readonly child: ChildProcess;
  readonly url: string;
  readonly pidFile: string;
  stdout(): string;
  stderr(): string;
  /**
   * Send `signal` (SIGTERM) and wait for the exit code; past `timeout` ms the instance is killed
   * (SIGKILL) and the stop fails naming the signal, so a stop that hangs never hangs the run.
   */
  stop(signal?: NodeJS.Signals, timeout?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

/** How long `actorrt start` may take to print its ready line (about a second on an idle machine). */
const READY_WITHIN = 30_000;
/** How long a stopped instance may take to drain and exit before it is killed (shutdownTimeout is at most 20 s in the fixtures). */
const STOP_WITHIN = 30_000;

/**
 * Start the CLI on a topology (absolute, or relative to the repository) with --port 0 and wait for
 * its ready line (killing it when that fails); with `t`, it is killed when that test ends, pass or
 * fail (an instance a describe block shares is stopped by the block's `after`). `env` adds variables.
 */
export async function startInstance(topology: string, args: readonly string[] = [], t?: { after(fn: () => unknown): void },
  env: NodeJS.ProcessEnv = {}): Promise<Instance> {
  const pidDir = mkdtempSync(join(tmpdir(), 'actorrt-pid-'));
  const pidFile = join(pidDir, 'actorrt.pid');
  const child = spawn(process.execPath, [CLI, 'start', resolve(ROOT, topology), '--port', '0', '--pid-file', pidFile, ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    // A primary killed with SIGKILL could not remove its runtime folder (second line of the pid file).
    const runtimeDir = readPidFileLines(pidFile)[1]?.trim();
    if (runtimeDir !== undefined && runtimeDir.startsWith(join(tmpdir(), 'actorrt-'))) rmSync(runtimeDir, { recursive: true, force: true });
    rmSync(pidDir, { recursive: true, force: true });
    resolve(code);
  }));
  // Never leave a server behind if the test process ends first.
  const reap = (): void => { if (child.exitCode === null) child.kill('SIGKILL'); };
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (): void => {
      const m = /actorrt ready on (http:\/\/[^\s]+)/.exec(out);
      if (m !== null) resolve(m[1] as string);
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`actorrt exited with ${String(code)} before it was ready\n${err}`)));
  });
  let url: string;
  try {
    url = await within(`actorrt start ${topology}`, ready, READY_WITHIN, 'no ready line');
  } catch (failure) {
    // Never leave a half-started instance behind a failed start.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    if (failure instanceof assert.AssertionError) failure.message += `\n${err}`;
    throw failure;
  }
  t?.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); return exited; });
  return {
    child, url, pidFile, exited,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal = 'SIGTERM', timeout = STOP_WITHIN) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      try {
        return await within(`actorrt (pid ${child.pid ?? '?'}) stopping on ${signal}`, exited, timeout, 'did not exit');
      } catch (failure) {
        child.kill('SIGKILL');
        await exited;
        throw failure;
      }
    },
  };
}

function readPidFileLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n');
  } catch {
    return [];
  }
}

/** A resource as `actorrt status --json` reports it. */
export interface ResourceState {
  readonly name: string;
  readonly state: string;
  readonly address: string;
  readonly unavailableIn: readonly string[];
  readonly error?: string;
  readonly originsOut?: readonly string[];
}

/** `actorrt status --json` of a running instance: its exit code and how it sees resource `name`. */
export async function resourceStatus(app: Instance, name: string): Promise<{ code: number | null; resource: ResourceState | undefined }> {
  const { code, stdout } = await runCli(['status', '--pid-file', app.pidFile, '--json']);
  const { resources } = JSON.parse(stdout) as { resources: ResourceState[] };
  return { code, resource: resources.find((r) => r.name === name) };
}

/** Run the CLI to completion (for start-up failures and one-shot commands). */
export function runCli(args: readonly string[], timeout = 20_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`actorrt ${args.join(' ')} did not exit within ${timeout} ms\n${stderr}`)); }, timeout);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly json: unknown;
  readonly text: string;
}

/** One request with undici; the body is read whole. */
export async function call(url: string, options: Parameters<typeof request>[1] = {}): Promise<Answer> {
  const res = await request(url, options);
  const text = await res.body.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.statusCode, headers: res.headers, json, text };
}

/** The `error` object of an actorrt error response. */
export function errorOf(answer: Answer): { code: string; message: string; requestId: string } {
  return (answer.json as { error: { code: string; message: string; requestId: string } }).error;
}

/** One request on a new connection of its own (no reuse of pooled keep-alive sockets). */
export async function callFresh(url: string, path: string): Promise<Answer> {
  const client = new Client(url);
  try {
    return await call(new URL(path, url).href, { dispatcher: client });
  } finally {
    await client.close();
  }
}

/** Write `data` on a raw socket; collect what comes back until the server closes or `wait` ms pass. */
export function raw(url: string, data: string, wait: number): Promise<{ text: string; closed: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(Number(port), hostname, () => socket.write(data));
    const timer = setTimeout(() => { socket.destroy(); resolve({ text, closed: false }); }, wait);
    socket.on('data', (d: Buffer) => { text += d.toString(); });
    socket.on('close', () => { clearTimeout(timer); resolve({ text, closed: true }); });
    socket.on('error', () => undefined);
  });
}

/** Requests a steady load keeps the text of (it counts every failure; a loop against a dead port must not hoard memory). */
const FAILURES_KEPT = 50;

/** A load loop started by steadyLoad. */
export interface Load {
  /** Stop the loops (idempotent): how many requests were made, how many failed and the first failures. */
  stop(): Promise<{ total: number; failed: number; failures: string[] }>;
}

/**
 * Steady load from an undici client loop. With `t`, the load is stopped when that test ends, pass or
 * fail: a loop left running after a failed assertion would go on against a stopped instance.
 */
export function steadyLoad(url: string, paths: readonly string[], concurrency = 8, t?: { after(fn: () => unknown): void }): Load {
  const agent = new Agent({ connections: concurrency });
  let running = true;
  let total = 0;
  let failed = 0;
  const failures: string[] = [];
  const fail = (text: string): void => {
    failed++;
    if (failures.length < FAILURES_KEPT) failures.push(text);
  };
  const loop = async (i: number): Promise<void> => {
    let n = i;
    while (running) {
      const path = paths[n++ % paths.length] as string;
      try {
        const res = await request(`${url}${path}`, { dispatcher: agent });
        const text = await res.body.text();
        total++;
        if (res.statusCode !== 200) fail(`${path}: ${res.statusCode} ${text}`);
      } catch (err) {
        fail(`${path}: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, (_, i) => loop(i));
  let stopped: Promise<{ total: number; failed: number; failures: string[] }> | undefined;
  const load: Load = {
    stop() {
      running = false;
      stopped ??= (async () => {
        await Promise.all(loops);
        await agent.close();
        return { total, failed, failures };
      })();
      return stopped;
    },
  };
  t?.after(() => load.stop());
  return load;
}

/** Stop the load and assert that not one request failed; resolves to how many were made. */
export async function noFailedRequest(load: Load): Promise<number> {
  const { total, failed, failures } = await load.stop();
  assert.equal(failed, 0, `${failed} of ${total} requests failed${failed > failures.length ? ` (the first ${failures.length} shown)` : ''}:\n${failures.join('\n')}`);
  return total;
}

/** The instance's status straight from its admin socket (what `actorrt status --json` prints). */
export async function statusOf(app: Instance): Promise<InstanceStatus> {
  const entry = PidFile.readEntry(app.pidFile);
  assert.ok(entry?.runtimeDir !== undefined, 'the instance has a pid file');
  return await adminRequest(join(entry.runtimeDir, 'admin.sock'), 'status') as InstanceStatus;
}

/** Poll until `check` holds (status-based), failing with the last status after `timeout`. */
export async function until(app: Instance, what: string, check: (s: InstanceStatus) => boolean, timeout = 30_000): Promise<InstanceStatus> {
  const deadline = Date.now() + timeout;
  let last: InstanceStatus | undefined;
  while (Date.now() < deadline) {
    last = await within(`${what} (asking for the status)`, statusOf(app), Math.max(deadline - Date.now(), 1), 'no status');
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what}: not reached within ${timeout} ms; last status:\n${JSON.stringify(last, null, 2)}`);
}


/** A request held open by a fixture's slow pool (GET /gate?gate=<file>, test/fixtures/runtime/actors/slow.mjs) until `release()`. */
export interface Held {
  readonly answer: Promise<Answer>;
  /** Whether the answer came (or the request failed) already. */
  settled(): boolean;
  release(): void;
}

/** Send a request the `slow` pool holds until released, on a connection of its own, and wait until its actor has it. */
export async function hold(app: Instance): Promise<Held> {
  const gate = join(tempDir('gate'), 'open');
  let done = false;
  const answer = callFresh(app.url, `/gate?gate=${encodeURIComponent(gate)}`);
  answer.then(() => { done = true; }, () => { done = true; });
  await until(app, 'the held request reached its actor', (s) => (s.pools.find((p) => p.name === 'slow')?.depth ?? 0) > 0);
  return { answer, settled: () => done, release: () => writeFileSync(gate, '') };
}

/** Whether a TCP connection to `url` is refused (nothing accepts on the port, not even into a backlog). */
export function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}
