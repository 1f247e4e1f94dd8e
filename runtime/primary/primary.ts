import { existsSync, mkdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { parseScale } from '../../config/scale.js';
import type { Config } from '../../config/types.js';
import { Autoscaler } from '../autoscale/autoscaler.js';
import { autoscaledSizes, autoscaledUnit } from '../autoscale/policy.js';
import { resolveShutdownDelay } from '../../config/shutdown-delay.js';
import { loadConfig } from '../../config/validate.js';
import { ActorrtError } from '../errors.js';
import { createLogger, worthLogging } from '../logger.js';
import { serveAdmin, type AdminHandler } from './admin.js';
import { usableCpus } from './cpu-count.js';
import { bindListener, hostForUrl } from './listener.js';
import { PidFile } from './pid-file.js';
import { profileProcess } from './profile.js';
import { FRONT, Processes } from './processes.js';
import { Reloader } from './reload.js';
import { checkPrivate, makeRuntimeDir } from './runtime-dir.js';
import { actorDigests } from './reload-plan.js';
import { ProcessReports } from './reports.js';
import { serveMetrics, type Exposition } from './metrics-listener.js';
import { Scraper, type Collected } from './scrape.js';
import type { InstanceStatus, StopAnswer } from './status.js';
import { KILL_GRACE } from './supervisor.js';
import type { Child } from './child.js';
import type { ProcessStats } from './processes.js';
import { watchProcesses } from './watchdog.js';
import { watchTopology } from './watcher.js';

export interface StartOptions {
  readonly port?: number;
  readonly workers?: number;
  readonly pidFile?: string;
  /** Reload when the topology file is saved (default true). */
  readonly watch?: boolean;
  /** Keep serving when the process that started this one exits (default: stop with it). */
  readonly detached?: boolean;
}

/** How often the primary checks that the process that started it is still there. */
const PARENT_CHECK_MS = 1000;

/**
 * The primary: validates the topology, binds the port once, starts the isolated pools' processes
 * and the front workers (one child supervisor restarts any that die), serves the admin socket,
 * applies reloads (file saves, SIGHUP, `actorrt reload` / `scale`) and coordinates graceful
 * shutdown. It never handles a request. Resolves with the process exit code once the instance has stopped.
 */
export async function runPrimary(file: string, options: StartOptions = {}): Promise<number> {
  // The process that started this one, read before anything else: one that goes while the
  // instance is still starting must stop it too (read once ready, it would already be init's pid).
  const parent = process.ppid;
  // An autoscaled pool starts at the file's size clamped into its bounds.
  const written = loadConfig(file);
  const cpus = usableCpus();
  const config = autoscaledSizes(written, undefined, cpus);
  const log = createLogger('primary');
  for (const pool of Object.values(config.pools)) {
    const unit = autoscaledUnit(pool);
    const asked = unit === undefined ? undefined : written.pools[pool.name]?.[unit];
    if (unit !== undefined && asked !== undefined && asked !== pool[unit]) {
      log.info({ pool: pool.name, unit, file: asked, start: pool[unit], event: 'autoscale-start' }, `pool ${pool.name}: ${unit} ${asked} is outside its autoscale bounds; starting at ${pool[unit] ?? ''}`);
    }
  }
  const workersOf = (c: Config): number => options.workers ?? (c.http.workers === 'auto' ? usableCpus() : c.http.workers);
  const pidPath = options.pidFile ?? PidFile.defaultPath(config.file);
  const running = PidFile.readEntry(pidPath);
  if (running !== undefined && (running.runtimeDir === undefined || existsSync(running.runtimeDir))) {
    throw new ActorrtError('ACTORRT_E_ALREADY_RUNNING', `${config.file} is already running (pid ${running.pid}, recorded in ${pidPath})`,
      { hint: 'stop it first (actorrt stop), or give this copy its own --pid-file' });
  }
  const listener = await bindListener(config.http.host, options.port ?? config.http.port);
  // Per-instance folder for the channel and admin sockets: private and unique, so two instances
  // on one machine never collide and no other user can drive this one. Removed at stop.
  let runtimeDir: string;
  try {
    runtimeDir = makeRuntimeDir();
  } catch (err) {
    listener.close();
    throw err;
  }
  const pid = new PidFile(pidPath, runtimeDir, log);
  const startedAt = Date.now();
  const reports: ProcessReports = new ProcessReports((): Config => processes.config);
  let stopping = false;
  /** While the instance leaves its load balancers (http.shutdownDelay): when the drain begins (ms since the epoch). */
  let leavingUntil: number | undefined;
  let leaveTimer: NodeJS.Timeout | undefined;
  /** Set once the first start is done: a reload before that would race it. */
  let serving = false;
  let exitCode = 0;
  let admin: Server | undefined;
  let metricsServer: HttpServer | undefined;
  /** Where /metrics is served, or why it is not (status shows it). */
  let metricsAt: InstanceStatus['metrics'];
  let unwatch: (() => void) | undefined;
  let unwatchProcesses: (() => void) | undefined;
  let runtimeDirWatch: NodeJS.Timeout | undefined;
  const processes = new Processes({ config, digests: actorDigests(config), workers: workersOf(config) }, runtimeDir, listener, log, reports,
    () => { void shutdown(1); });
  const { supervisor } = processes;
  const reloader = new Reloader(processes, config.file, workersOf, log);
  const autoscaler = new Autoscaler(processes, reloader, log, cpus);

  const releaseFiles = (): void => {
    clearTimeout(leaveTimer);
    clearInterval(runtimeDirWatch);
    unwatch?.();
    unwatchProcesses?.();
    admin?.close();
    void processes.bus.close();
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    listener.close();
    pid.remove();
    rmSync(runtimeDir, { recursive: true, force: true });
  };
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => { done = resolve; });

  /**
   * Leave the load balancers for `delay` ms before the drain: front workers answer readiness with
   * 503 and serve everything else as before, while the listening socket stays open and new
   * connections are served (a balancer keeps sending them until it has seen the change: Kubernetes
   * removes a pod's endpoints in parallel with its SIGTERM). No front worker is started or
   * restarted meanwhile: one that reported ready would take traffic again.
   */
  const leave = async (delay: number): Promise<void> => {
    leavingUntil = Date.now() + delay;
    supervisor.close(FRONT);
    for (const worker of supervisor.list(FRONT)) supervisor.tell(worker, { type: 'leave' });
    log.info({ event: 'leave', delay }, `leaving: readiness 503, serving for ${seconds(delay)} before draining`);
    // No front worker is restarted meanwhile: once the last one is gone (crashed), nothing accepts
    // from the listening socket, and connections would wait in its backlog until the delay ends and
    // then be reset. Closing it now refuses them instead, which balancers retry elsewhere.
    let cutShort = false;
    const alone = supervisor.emptied(FRONT).then(() => { cutShort = true; });
    await Promise.race([new Promise<void>((resolve) => { leaveTimer = setTimeout(resolve, delay); }), alone]);
    clearTimeout(leaveTimer);
    if (cutShort) {
      log.warn({ event: 'leave-cut-short', left: Math.max(0, (leavingUntil ?? Date.now()) - Date.now()) },
        'no front worker left to serve (they are not restarted while leaving): draining now instead of at the end of the delay');
    }
    leavingUntil = undefined;
  };

  /** Stop the instance, exiting with `code`; a `graceful` one (signal, `actorrt stop`, the parent gone) leaves the load balancers first, for http.shutdownDelay. */
  const shutdown = async (code: number, graceful = code === 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    autoscaler.stop();
    exitCode = code;
    // Read as the stop begins: a reload may have changed it, and `auto` looks at this process's environment.
    const delay = graceful ? resolveShutdownDelay(processes.config.http.shutdownDelay) : 0;
    log.info({ code }, 'shutting down');
    if (delay > 0) await leave(delay);
    // The primary's copy of the listening socket goes first: once each worker closes its own (the
    // first thing it does when told to stop), the kernel refuses new connections instead of
    // queueing them in a backlog nobody accepts from any more (they were reset at exit).
    listener.close();
    // Front workers first (they stop sending), then the pool processes they were calling.
    await supervisor.stopAll(processes.config.http.shutdownTimeout, FRONT);
    await processes.bus.close();
    releaseFiles();
    done(code);
  };

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: forcing exit');
      autoscaler.stop();
      supervisor.killAll();
      releaseFiles();
      done(130);
      return;
    }
    void shutdown(0);
  };
  const onHangup = (): void => {
    if (serving && !stopping) void reloader.reload('signal');
    else log.warn(stopping ? 'SIGHUP while the instance is stopping: ignored' : 'SIGHUP before the instance is serving: ignored');
  };
  // The last line of defence. Every child, socket, server and watcher the primary owns has its
  // errors handled, so an exception that still escapes is a bug in actorrt; dying of it would
  // take every worker and pool process down with the primary. It is logged as a bug, with its
  // stack and a stable event for alerting, and the instance serves on.
  let unreadable = 0;
  const onBug = (err: unknown): void => {
    // Node parses the IPC stream before any of our code sees a message: bytes a child wrote that
    // are not an IPC message (an actor writing to fd 3, an internal NODE_HANDLE_* command) throw
    // from node's own channel reader. That is the child's doing, not a bug here; node drops that
    // line and reads on (measured: the child's later heartbeats and replies arrive), and a child
    // whose channel stays unreadable goes silent, so the watchdog replaces it.
    if (err instanceof Error && (err.stack ?? '').includes('node:internal/child_process')) {
      unreadable++;
      if (worthLogging(unreadable)) {
        log.error({ err, code: 'ACTORRT_E_BAD_MESSAGE', event: 'ipc-unreadable', count: unreadable }, 'a child wrote something that is not an IPC message; node dropped it');
      }
      return;
    }
    log.fatal({ err, code: 'ACTORRT_E_INTERNAL', event: 'primary-bug' }, 'actorrt bug: an error escaped in the primary; it keeps serving (please report this line)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangup);
  process.on('uncaughtException', onBug);
  process.on('unhandledRejection', onBug);
  const unhook = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
    process.off('uncaughtException', onBug);
    process.off('unhandledRejection', onBug);
  };

  // Connects in the background: a Redis that is down delays nothing (the instance starts cut off from its peers).
  void processes.bus.apply(config);
  try {
    await startAll(processes, config);
  } catch (err) {
    stopping = true;
    autoscaler.stop();
    supervisor.killAll();
    unhook();
    releaseFiles();
    throw err;
  }
  const adminPath = join(runtimeDir, 'admin.sock');
  /** The status of the instance from the loads just gathered: `status`, `top` and /metrics read this one shape. */
  const statusFrom = (loads: ReadonlyMap<Child, ProcessStats>): InstanceStatus => {
    const current = processes.config;
    const bus = processes.bus.status();
    return {
      pid: process.pid,
      url: `http://${hostForUrl(current.http.host)}:${listener.port}`,
      file: current.file,
      uptime: Math.round((Date.now() - startedAt) / 1000),
      workers: processes.workerStatus(loads),
      workerRestarts: processes.workerRestarts,
      pools: processes.poolStatus(loads).map((p) => {
        const pool = current.pools[p.name];
        const autoscale = pool === undefined ? undefined : autoscaler.status(pool);
        return autoscale === undefined ? p : { ...p, autoscale };
      }),
      caches: processes.cacheStatus(loads),
      resources: reports.health.status(current),
      ...(reloader.last === undefined ? {} : { lastReload: reloader.last }),
      ...(metricsAt === undefined ? {} : { metrics: metricsAt }),
      ...(bus === undefined ? {} : { bus }),
      ...(stopping ? { stopping: leavingUntil === undefined ? { phase: 'draining' } : { phase: 'leaving', left: Math.max(0, leavingUntil - Date.now()) } } : {}),
    };
  };
  const scraper = new Scraper(processes, reports, reloader.tally);
  // Scrapes that arrive while one is collecting share it: Prometheus, `top` and a curl at once cost one round of calls.
  let collecting: Promise<Collected> | undefined;
  const collect = (): Promise<Collected> => {
    collecting ??= scraper.collect(statusFrom).finally(() => { collecting = undefined; });
    return collecting;
  };
  const expose = async (openMetrics: boolean): Promise<Exposition> => {
    const registry = (await collect()).registry(openMetrics);
    return { contentType: registry.contentType, body: await registry.metrics() };
  };
  reports.expose = expose;
  /** A reload or scale while the instance stops would start processes nobody stops, or workers that report ready again: refused. */
  const whileServing = <T>(what: string, run: () => Promise<T>): Promise<T> => {
    if (!stopping) return run();
    return Promise.reject(new ActorrtError('ACTORRT_E_RELOAD_REFUSED', `the instance is stopping: ${what} refused`,
      { hint: 'apply the change to the instance that replaces this one' }));
  };
  const commands: Readonly<Record<string, AdminHandler>> = {
    status: async (): Promise<InstanceStatus> => statusFrom(await processes.loads()),
    metrics: async (args): Promise<unknown> => {
      const collected = await collect();
      if (args['format'] === 'text') return expose(args['openMetrics'] === true);
      return { status: statusFrom(collected.stats), families: await collected.registry().getMetricsAsJSON() };
    },
    reload: (args) => whileServing('reload', () => reloader.reload('command', args['dryRun'] === true, args['roll'] === true)),
    scale: (args) => whileServing('scale', () => reloader.scale(parseScale(Array.isArray(args['overrides']) ? args['overrides'].map(String) : []), args['dryRun'] === true)),
    stop: (): StopAnswer => {
      // The answer goes out before the stop gets anywhere: the admin socket stays open until the very end.
      const config = processes.config;
      const leaveMs = stopping ? Math.max(0, (leavingUntil ?? Date.now()) - Date.now()) : resolveShutdownDelay(config.http.shutdownDelay);
      // Counts as the first signal: one SIGTERM after it forces the exit, as the CLI's hint says.
      signals = Math.max(signals, 1);
      void shutdown(0);
      // Front workers drain first, then every other process, each bounded by shutdownTimeout and killed KILL_GRACE past it.
      return { pid: process.pid, leave: leaveMs, drain: config.http.shutdownTimeout, within: leaveMs + 2 * (config.http.shutdownTimeout + KILL_GRACE) };
    },
    profile: (args) => profileProcess(processes, args),
  };
  admin = await serveAdmin(adminPath, commands, log);
  // A temp-folder cleaner (systemd-tmpfiles, a cron job emptying /tmp) may remove the runtime
  // folder under a running instance: status and stop could no longer reach it, and every child
  // restarted after that failed to bind its socket (six in a row gave the instance up). The folder
  // is made again (private, or not at all), the admin socket served again, and every process
  // replaced, new before old, so each binds its socket afresh.
  let recovering = false;
  const recoverRuntimeDir = async (): Promise<void> => {
    log.error({ runtimeDir, event: 'runtime-dir-lost' }, 'the runtime folder was removed under the running instance; making it again and replacing every process');
    try {
      mkdirSync(runtimeDir, { mode: 0o700 });
      checkPrivate(runtimeDir);
    } catch (err) {
      log.error({ err, runtimeDir, event: 'runtime-dir-lost' }, 'could not make the runtime folder again (privately): the instance serves on, but status, stop and restarts need it; restart the instance');
      return;
    }
    admin?.close();
    admin = await serveAdmin(adminPath, commands, log);
    const outcome = await reloader.reload('recovery', false, true);
    if (!outcome.ok) log.error({ code: outcome.error?.code, err: outcome.error?.message, event: 'runtime-dir-lost' }, 'replacing the processes after the runtime folder was lost failed');
  };
  runtimeDirWatch = setInterval(() => {
    if (stopping || recovering || existsSync(runtimeDir)) return;
    recovering = true;
    void recoverRuntimeDir().finally(() => { recovering = false; });
  }, PARENT_CHECK_MS);
  runtimeDirWatch.unref();
  unwatchProcesses = watchProcesses(supervisor, () => processes.config, (child, why, fields) => reloader.recycle(child, why, fields), runtimeDir, log, (child, reason) => scraper.replaced(child, reason));
  /** (Re)bind the metrics listener at `address` (`admin.metrics`), closing the one there was. */
  let metricsAddress: Config['admin']['metrics'] = false;
  const bindMetrics = async (address: Config['admin']['metrics']): Promise<void> => {
    metricsAddress = address;
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    metricsServer = undefined;
    metricsAt = undefined;
    if (address === false) return;
    try {
      metricsServer = await serveMetrics(address.host, address.port, expose, log);
      const bound = metricsServer.address();
      const port = bound !== null && typeof bound === 'object' ? bound.port : address.port;
      metricsAt = { url: `http://${hostForUrl(address.host)}:${port}/metrics` };
      log.info({ url: metricsAt.url }, 'metrics listener ready');
    } catch (err) {
      // Serving without metrics beats not serving: two instances on one machine with the default address is the common case.
      const e = err instanceof ActorrtError ? err : new ActorrtError('ACTORRT_E_METRICS_LISTEN', String(err));
      metricsAt = { error: `${e.code}: ${e.message}` };
      log.warn({ code: e.code, err: e.message, hint: e.hint }, 'no metrics listener; the instance serves on without it');
    }
  };
  await bindMetrics(config.admin.metrics);
  reloader.onApplied = (next): void => {
    const now = next.admin.metrics;
    const same = now === false ? metricsAddress === false : metricsAddress !== false && now.host === metricsAddress.host && now.port === metricsAddress.port;
    // A listener that could not bind (the port was taken) is tried again by any reload, changed or not.
    const failed = now !== false && metricsServer === undefined;
    if ((!same || failed) && !stopping) void bindMetrics(now);
  };
  if (options.watch !== false) unwatch = watchTopology(config.file, () => { if (!stopping) void reloader.reload('file'); });
  pid.write();
  serving = true;
  autoscaler.start();
  // Started by npx, npm start or a shell wrapper: when that process goes (a SIGTERM to it, docker
  // stop, a terminal closed), this one is re-parented; stop with it instead of serving orphaned.
  const parentWatch = options.detached === true ? undefined : setInterval(() => {
    if (process.ppid === parent || stopping) return;
    log.warn({ parent }, 'the process that started actorrt exited; stopping (start with --detached to keep serving)');
    void shutdown(0);
  }, PARENT_CHECK_MS);
  parentWatch?.unref();
  const count = processes.serving(FRONT).length;
  const pools = Object.keys(config.pools).length;
  log.info({ port: listener.port, workers: count, pools: Object.keys(config.pools), runtimeDir }, 'ready');
  process.stdout.write(`actorrt ready on http://${hostForUrl(config.http.host)}:${listener.port} (${count} worker${count === 1 ? '' : 's'}, ${pools} pool${pools === 1 ? '' : 's'})\n`);

  const code = await finished;
  clearInterval(parentWatch);
  unhook();
  log.info({ code: code === 0 ? exitCode : code }, 'stopped');
  return code === 0 ? exitCode : code;
}

/**
 * First start: every isolated pool's processes, all at once (one that fails is handed to
 * supervision, except for an unreachable resource, which fails the start), then the front workers
 * (any failure fails the start), then one broadcast so every process knows every other's socket.
 * The front workers come after the pools: one serves as soon as it listens, and it must know
 * where every isolated pool is by then. The pool processes used to start one after another:
 * measured with 2 processes of one pool on the 2-core machine, start to the ready line went from
 * 2x one process's start to about 1.1x (docs/benchmarks.md, cold-start).
 */
async function startAll(processes: Processes, config: Config): Promise<void> {
  const pools: Array<Promise<void>> = [];
  for (const pool of Object.values(config.pools)) {
    for (let i = 0; i < (pool.processes ?? 0); i++) {
      pools.push(processes.startPoolProcess(pool.name, true).ready.catch((err: unknown) => {
        // A resource that stayed unreachable through its own start-up retries fails the whole
        // start (exit 1, naming it): serving without the database is not what anyone asked for.
        if (err instanceof ActorrtError && err.code.startsWith('ACTORRT_E_RESOURCE_')) throw err;
      }));
    }
  }
  await Promise.all(pools);
  await Promise.all(Array.from({ length: processes.deployed().workers }, () => processes.startFront().ready));
  await processes.broadcast();
}

/** `5s`, `1.5s`, `250ms`: a delay as log lines show it. */
function seconds(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(3))}s` : `${ms}ms`;
}
