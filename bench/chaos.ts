import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { adminRequest } from '../runtime/primary/admin.js';
import { PidFile } from '../runtime/primary/pid-file.js';
import type { InstanceStatus } from '../runtime/primary/status.js';
import { Relay } from './relay.js';
import { ROOT } from './servers.js';

/**
 * Chaos under load, loopback only and bounded in time: an instance with an inline and an isolated
 * pool, PostgreSQL and Redis behind relays, a steady undici load over every route, and every
 * 0.5-1.5 s one fault: kill -9 of a front worker or a pool process, one stopped (SIGSTOP) for a
 * moment or past the watchdog, PostgreSQL or Redis cut or frozen for a moment. Then the faults stop and the instance must return to full size and health
 * by itself. A request "hangs" when it gets neither an answer nor a closed connection within
 * HUNG_MS: the target is 0.
 *
 *   npm run chaos                    (20 s; CHAOS_SECONDS, CHAOS_SEED to change)
 */

/** No answer and no close within this long: a hung request. */
const HUNG_MS = 15_000;
const ROUTES = ['/inline', '/iso', '/db', '/kv', '/cached'] as const;
const FAULTS = ['kill-worker', 'kill-pool-process', 'stop-process', 'cut-postgres', 'freeze-postgres', 'cut-redis', 'freeze-redis'] as const;
type Fault = typeof FAULTS[number];

export interface ChaosOptions {
  readonly seconds: number;
  readonly seed: number;
  readonly postgres: string;
  readonly redis: string;
  /** Concurrent request loops. */
  readonly connections?: number;
}

export interface ChaosReport {
  readonly sent: number;
  /** Answers by status code. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Connections reset or closed under a request (its process was killed). */
  readonly connectionErrors: number;
  readonly hung: number;
  readonly faults: Readonly<Record<string, number>>;
  /** Processes the watchdog killed because they stopped answering (the long SIGSTOPs). */
  readonly watchdogKills: number;
  /** Back to full size and health after the faults stopped, and how long it took. */
  readonly recovered: boolean;
  readonly recoveryMs: number;
  /** Requests on every route after recovery that were not 200. */
  readonly afterRecovery: readonly string[];
  readonly exitCode: number | null;
}

/** A small deterministic generator, so a failing run can be replayed with its seed. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >> 17;
    s ^= s << 5; s >>>= 0;
    return s / 0x100000000;
  };
}

function topology(pg: string, redis: string): string {
  const actor = join(ROOT, 'bench', 'actors', 'chaos.mjs');
  return `version: 1
http:
  port: 0
  host: 127.0.0.1
  workers: 2
  shutdownTimeout: 5s
  watchdog: 5s
resources:
  pg: { type: postgres, url: "${pg}", max: 4, connectTimeout: 1s, statementTimeout: 2s, startup: { retries: 10, delay: 200ms } }
  redis: { type: redis, url: "${redis}", connectTimeout: 1s, startup: { retries: 10, delay: 200ms } }
caches:
  hot: { store: redis, resource: redis, ttl: 1s, timeout: 50ms }
pools:
  api:
    actor: ${actor}
    size: 4
    timeout: 3s
    resources: [pg, redis]
  work:
    actor: ${actor}
    processes: 2
    size: 2
    timeout: 3s
    drainTimeout: 3s
    supervision: { maxRestarts: 100, within: 10s }
routes:
  - match: { method: GET, path: /inline }
    pool: api
  - match: { method: GET, path: /iso }
    pool: work
  - match: { method: GET, path: /db }
    pool: api
  - match: { method: GET, path: /kv }
    pool: api
  - match: { method: GET, path: /cached }
    pool: api
    cache: { use: hot, key: "cached" }
`;
}

/** Run one chaos session and report; the instance is stopped (SIGTERM) at the end. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const rand = random(options.seed);
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-chaos-'));
  const relays = { pg: Relay.for(options.postgres), redis: Relay.for(options.redis) };
  await relays.pg.open();
  await relays.redis.open();
  const file = join(dir, 'actorrt.yml');
  writeFileSync(file, topology(relays.pg.url(options.postgres), relays.redis.url(options.redis)));
  const pidFile = join(dir, 'actorrt.pid');
  const cli = fileURLToPath(new URL('../runtime/cli.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'start', file, '--pid-file', pidFile, '--no-watch'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ACTORRT_LOG_LEVEL: 'error' },
  });
  let stderr = '';
  let watchdogKills = 0;
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString();
    watchdogKills += text.match(/is unresponsive for \d+ ms/g)?.length ?? 0;
    stderr = (stderr + text).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stopped = { done: false };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /actorrt ready on (http:\/\/\S+)/.exec(out);
        if (m !== null) resolve(m[1] as string);
      });
      void exited.then((code) => reject(new Error(`actorrt exited (${String(code)}) before it was ready:\n${stderr}`)));
    });
    const status = async (): Promise<InstanceStatus | undefined> => {
      const entry = PidFile.readEntry(pidFile);
      if (entry?.runtimeDir === undefined) return undefined;
      try {
        return await adminRequest(join(entry.runtimeDir, 'admin.sock'), 'status', {}, 3000) as InstanceStatus;
      } catch {
        return undefined;
      }
    };

    // The load: loops of one request at a time, each bounded by HUNG_MS.
    const agent = new Agent({ connections: options.connections ?? 8, headersTimeout: HUNG_MS, bodyTimeout: HUNG_MS });
    const statuses: Record<string, number> = {};
    let sent = 0;
    let connectionErrors = 0;
    let hung = 0;
    let loading = true;
    const loop = async (i: number): Promise<void> => {
      for (let n = i; loading; n++) {
        sent++;
        try {
          const res = await request(`${url}${ROUTES[n % ROUTES.length] as string}`, { dispatcher: agent });
          await res.body.dump();
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') hung++;
          else connectionErrors++;
        }
      }
    };
    const loops = Array.from({ length: options.connections ?? 8 }, (_, i) => loop(i));

    // The faults.
    const faults: Record<string, number> = {};
    const pending: Array<Promise<void>> = [];
    const end = Date.now() + options.seconds * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 500 + rand() * 1000));
      const fault = FAULTS[Math.floor(rand() * FAULTS.length)] as Fault;
      const acted = await inject(fault, await status(), relays, rand);
      if (acted === undefined) continue;
      faults[fault] = (faults[fault] ?? 0) + 1;
      pending.push(acted.restored);
    }
    await Promise.all(pending);

    // Recovery: full size and every resource available again, by itself.
    const started = Date.now();
    let recovered = false;
    while (Date.now() - started < 30_000) {
      const s = await status();
      if (s !== undefined && healthy(s)) { recovered = true; break; }
      await new Promise((r) => setTimeout(r, 200));
    }
    const recoveryMs = Date.now() - started;
    loading = false;
    await Promise.all(loops);
    await agent.close();
    const afterRecovery: string[] = [];
    for (const route of ROUTES) {
      for (let i = 0; i < 4; i++) {
        const res = await request(`${url}${route}`).catch((err: Error) => err);
        if (res instanceof Error) afterRecovery.push(`${route}: ${res.message}`);
        else {
          await res.body.dump();
          if (res.statusCode !== 200) afterRecovery.push(`${route}: ${res.statusCode}`);
        }
      }
    }
    child.kill('SIGTERM');
    const exitCode = await exited;
    stopped.done = true;
    return { sent, statuses, connectionErrors, hung, faults, watchdogKills, recovered, recoveryMs, afterRecovery, exitCode };
  } finally {
    if (!stopped.done && child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await relays.pg.cut();
    await relays.redis.cut();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every front worker and pool process up at its configured count, every resource available. */
function healthy(s: InstanceStatus): boolean {
  const workers = s.workers.filter((w) => w.state === 'up').length;
  if (workers !== 2) return false;
  for (const p of s.pools) {
    if (p.kind !== 'isolated') continue;
    if ((p.processes ?? []).filter((x) => x.state === 'up').length !== p.processCount || p.state !== 'up') return false;
  }
  return s.resources.every((r) => r.state === 'available');
}

/** Carry one fault out; `restored` settles once what it broke is back. Undefined: nothing to act on now. */
async function inject(fault: Fault, s: InstanceStatus | undefined, relays: { pg: Relay; redis: Relay }, rand: () => number): Promise<{ restored: Promise<void> } | undefined> {
  const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(rand() * list.length)];
  const brief = (): Promise<void> => new Promise((r) => setTimeout(r, 300 + rand() * 1700));
  switch (fault) {
    case 'kill-worker':
    case 'kill-pool-process': {
      const list = fault === 'kill-worker' ? s?.workers ?? [] : s?.pools.flatMap((p) => p.processes ?? []) ?? [];
      const pid = pick(list.filter((x) => x.up && x.pid !== undefined))?.pid;
      if (pid === undefined) return undefined;
      try { process.kill(pid, 'SIGKILL'); } catch { return undefined; }
      return { restored: Promise.resolve() };
    }
    case 'stop-process': {
      // SIGSTOP a front worker or a pool process: now and then past the watchdog (5 s), which must replace it.
      const all = [...(s?.workers ?? []), ...(s?.pools.flatMap((p) => p.processes ?? []) ?? [])];
      const pid = pick(all.filter((x) => x.up && x.pid !== undefined))?.pid;
      if (pid === undefined) return undefined;
      try { process.kill(pid, 'SIGSTOP'); } catch { return undefined; }
      const hold = rand() < 0.25 ? 6500 : 300 + rand() * 1700;
      return { restored: new Promise<void>((r) => setTimeout(r, hold)).then(() => { try { process.kill(pid, 'SIGCONT'); } catch { /* replaced */ } }) };
    }
    case 'cut-postgres':
    case 'cut-redis': {
      const relay = fault === 'cut-postgres' ? relays.pg : relays.redis;
      await relay.cut();
      return { restored: brief().then(() => relay.open()) };
    }
    case 'freeze-postgres':
    case 'freeze-redis': {
      const relay = fault === 'freeze-postgres' ? relays.pg : relays.redis;
      relay.freeze();
      return { restored: brief().then(() => relay.thaw()) };
    }
  }
}

/** Print a report as the chaos script does. */
export function formatReport(r: ChaosReport, seed: number): string {
  const answered = Object.values(r.statuses).reduce((a, b) => a + b, 0);
  return [
    `chaos (seed ${seed}): ${Object.entries(r.faults).map(([f, n]) => `${n} ${f}`).join(', ')}; the watchdog replaced ${r.watchdogKills} stopped process(es)`,
    `requests sent ${r.sent}, answered ${answered} (${Object.entries(r.statuses).map(([c, n]) => `${c}: ${n}`).join(', ')}), connection errors ${r.connectionErrors}, hung ${r.hung} (target 0)`,
    `recovered to full size and health: ${r.recovered ? `yes, ${r.recoveryMs} ms after the last fault` : 'NO (30 s)'}`,
    `after recovery: ${r.afterRecovery.length === 0 ? `every route 200` : r.afterRecovery.join('; ')}`,
    `instance exit code on SIGTERM: ${String(r.exitCode)}`,
  ].join('\n');
}

// `node dist/bench/chaos.js`: the chaos script.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seed = Number(process.env['CHAOS_SEED'] ?? Date.now() % 100_000);
  const report = await runChaos({
    seconds: Number(process.env['CHAOS_SECONDS'] ?? 20), seed,
    postgres: process.env['ACTORRT_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    redis: process.env['ACTORRT_TEST_REDIS'] ?? 'redis://127.0.0.1:6379',
  });
  process.stdout.write(`${formatReport(report, seed)}\n`);
  process.exitCode = report.hung === 0 && report.recovered && report.afterRecovery.length === 0 && report.exitCode === 0 ? 0 : 1;
}
