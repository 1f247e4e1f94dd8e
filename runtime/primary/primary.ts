import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/types.js';
import { loadConfig } from '../../config/validate.js';
import { ActorrtError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { PrimaryMessage, ReadyMessage } from '../protocol.js';
import { decide, prune, type RestartPolicy } from '../supervision/policy.js';
import { serveAdmin } from './admin.js';
import { handshake } from './handshake.js';
import { PidFile } from './pid-file.js';
import { PoolProcesses } from './pool-processes.js';
import { ProcessReports } from './reports.js';

const WORKER_ENTRY = fileURLToPath(new URL('../worker/main.js', import.meta.url));
/** How long a worker may take from fork to ready before start-up counts as failed. */
const READY_TIMEOUT = 30_000;
/** Front workers are restarted under this intensity; past it the primary gives up and exits 1. */
const FRONT_POLICY: RestartPolicy = { strategy: 'one-for-one', maxRestarts: 5, within: 30_000, backoff: { min: 200, max: 5000 } };

export interface StartOptions {
  readonly port?: number;
  readonly workers?: number;
  readonly pidFile?: string;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
}

/**
 * The primary: validates the topology, forks the front workers, waits for every one to report
 * ready, restarts the ones that die, and coordinates graceful shutdown. It never handles a request.
 * Resolves with the process exit code once the instance has stopped.
 */
export async function runPrimary(file: string, options: StartOptions = {}): Promise<number> {
  const config = loadConfig(file);
  unsupported(config);
  const log = createLogger('primary');
  const count = options.workers ?? (config.http.workers === 'auto' ? availableParallelism() : config.http.workers);
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({ index, worker: undefined, ready: false }));
  const restarts: number[] = [];
  let stopping = false;
  // Every worker listens with the same arguments: node:cluster shares one handle per (host, port)
  // key, so `--port 0` gives all of them the one free port the first bind picked.
  const listenPort = options.port;
  let port: number | undefined;
  // Per-instance folder for the channel and admin sockets: mkdtemp makes it 0700 and unique, so
  // two instances on one machine never collide. Removed when the instance stops.
  const runtimeDir = mkdtempSync(join(tmpdir(), 'actorrt-'));
  const pid = new PidFile(options.pidFile ?? PidFile.defaultPath(config.file), runtimeDir, log);
  const startedAt = Date.now();
  let workerRestarts = 0;
  const frontSockets = slots.map((s) => join(runtimeDir, `front.${s.index}.sock`));
  const reports = new ProcessReports();
  const isolated = new PoolProcesses(config, runtimeDir, frontSockets, log, reports, (pool, reason) => {
    const message: PrimaryMessage = { type: 'pool-down', pool, reason };
    for (const s of slots) if (s.worker?.isConnected() === true) s.worker.send(message);
  });

  // Workers accept on the shared socket themselves (SCHED_NONE) instead of the primary accepting
  // and handing each connection over IPC (round-robin). That keeps the primary off the connection
  // path, and a connection can no longer be handed to a worker in the instant it dies, where it
  // would hang forever waiting for the handoff reply. Measured: same throughput as round-robin.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], silent: false });

  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => { done = resolve; });

  const fork = (slot: Slot): Promise<ReadyMessage> => new Promise((resolve, reject) => {
    const worker = cluster.fork({ ACTORRT_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    slot.ready = false;
    const cancel = handshake(worker, () => ({
      type: 'start', config, workerIndex: slot.index, endpoints: isolated.endpoints, socket: frontSockets[slot.index] as string, down: isolated.downPools(),
      ...(listenPort === undefined ? {} : { portOverride: listenPort }),
    }), READY_TIMEOUT, {
      ready: (msg) => {
        slot.ready = true;
        resolve(msg);
      },
      failed: (msg) => reject(new ActorrtError(msg.code as ActorrtError['code'], msg.message, msg.hint === undefined ? {} : { hint: msg.hint })),
      escalated: (msg) => log.error({ worker: slot.index, workerPid: worker.process.pid, pool: msg.pool, reason: msg.reason }, 'worker escalated a pool failure; it will be restarted'),
      ...reports.from(`worker ${slot.index}`),
      timedOut: () => {
        reject(new ActorrtError('ACTORRT_E_STARTUP', `worker ${slot.index} did not report ready within ${READY_TIMEOUT} ms`));
        worker.kill('SIGKILL');
      },
    });
    worker.once('exit', (code, signal) => {
      cancel();
      reports.exited(`worker ${slot.index}`);
      if (!slot.ready) reject(new ActorrtError('ACTORRT_E_STARTUP', `worker ${slot.index} exited during start-up (code ${String(code)}, signal ${String(signal)})`));
      onExit(slot, worker, code, signal);
    });
  });

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null): void => {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    if (stopping) {
      // Front workers first (they stop sending), then the pool processes they were calling.
      if (slots.every((s) => s.worker === undefined)) void isolated.stop(config.http.shutdownTimeout).then(() => finish(0));
      return;
    }
    const now = Date.now();
    prune(restarts, now, FRONT_POLICY.within);
    const decision = decide(FRONT_POLICY, restarts, now);
    const fields = { worker: slot.index, workerPid: worker.process.pid, code, signal, count: decision.count };
    if (decision.action !== 'restart-one') {
      log.fatal({ ...fields, reason: decision.action === 'escalate' ? decision.reason : decision.action }, 'front workers keep failing; giving up');
      void shutdown(1);
      return;
    }
    restarts.push(now);
    workerRestarts++;
    log.warn({ ...fields, delay: decision.delay }, 'worker exited; restarting');
    setTimeout(() => {
      if (stopping) return;
      fork(slot).catch((err: unknown) => log.error({ worker: slot.index, err: (err as Error).message }, 'restarted worker failed to start'));
    }, decision.delay);
  };

  let admin: Server | undefined;
  const releaseFiles = (): void => {
    admin?.close();
    pid.remove();
    rmSync(runtimeDir, { recursive: true, force: true });
  };
  const finish = (code: number): void => {
    releaseFiles();
    done(code);
  };

  let exitCode = 0;
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ code }, 'shutting down');
    const live = slots.filter((s) => s.worker !== undefined);
    if (live.length === 0) {
      await isolated.stop(config.http.shutdownTimeout);
      return finish(code);
    }
    const message: PrimaryMessage = { type: 'shutdown', timeout: config.http.shutdownTimeout };
    for (const s of live) if (s.worker?.isConnected() === true) s.worker.send(message);
    // Past the drain deadline (plus a margin for closing resources), force the stragglers.
    setTimeout(() => {
      for (const s of slots) s.worker?.process.kill('SIGKILL');
    }, config.http.shutdownTimeout + 5000).unref();
  };

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: forcing exit');
      for (const s of slots) s.worker?.process.kill('SIGKILL');
      isolated.kill();
      finish(130);
      return;
    }
    void shutdown(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await isolated.start();
    const ready = await Promise.all(slots.map((s) => fork(s)));
    port = ready[0]?.port;
  } catch (err) {
    stopping = true;
    for (const s of slots) s.worker?.process.kill('SIGKILL');
    isolated.kill();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    releaseFiles();
    throw err;
  }
  admin = await serveAdmin(join(runtimeDir, 'admin.sock'), {
    status: () => ({
      pid: process.pid,
      url: `http://${config.http.host}:${String(port)}`,
      file: config.file,
      uptime: Math.round((Date.now() - startedAt) / 1000),
      workers: slots.map((s) => ({ index: s.index, pid: s.worker?.process.pid, up: s.ready })),
      workerRestarts,
      pools: Object.values(config.pools).map((p) => ({
        ...(p.processes === undefined
          ? { name: p.name, kind: 'inline', size: p.size, state: 'up' }
          : { kind: 'isolated', size: p.size, ...isolated.status().find((st) => st.name === p.name) }),
        supervision: reports.counters.of(p.name),
      })),
      resources: reports.health.status(config),
    }),
  });
  pid.write();
  log.info({ port, workers: count, pools: Object.keys(config.pools), runtimeDir }, 'ready');
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  process.stdout.write(`actorrt ready on http://${host}:${port} (${count} worker${count === 1 ? '' : 's'}, ${Object.keys(config.pools).length} pool${Object.keys(config.pools).length === 1 ? '' : 's'})\n`);

  const code = await finished;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  log.info({ code: code === 0 ? exitCode : code }, 'stopped');
  return code === 0 ? exitCode : code;
}

/** Features the schema accepts that this version cannot run yet: refuse them up front, clearly. */
function unsupported(config: Config): void {
  const cached = config.routes.filter((r) => r.cache !== undefined || r.invalidate !== undefined).map((r) => `routes[${r.index}]`);
  if (cached.length > 0) {
    throw new ActorrtError('ACTORRT_E_UNSUPPORTED', `${cached.join(', ')} use cache: or invalidate:, which this version validates but cannot run yet`,
      { hint: 'remove the route cache settings for now; running without them would silently skip the caching you asked for' });
  }
}
