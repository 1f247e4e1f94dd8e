import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBetween, treeCpu } from './cpu.js';
import { report, type Row, type Run } from './http.js';
import { load, LOAD_GENERATOR, type LoadOptions } from './load.js';
import { startNginx, type Nginx } from './nginx.js';
import { ROOT, startServer, type Running } from './servers.js';

/** The example instance topology (GET /hello/:name on an inline pool, trustProxy: loopback). */
const TOPOLOGY = join(ROOT, 'examples', 'deploy', 'nginx', 'actorrt.yml');
const PATH = '/hello/bench';
const CONNECTIONS = 64;

/** N actorrt instances and the example nginx in front of them, as the scale-out scenario runs them. */
export interface ScaleOutCluster {
  /** nginx's URL, http://127.0.0.1:PORT */
  readonly url: string;
  readonly nginx: Nginx;
  /** Each instance (its port: its own URL, bypassing nginx). */
  readonly instances: readonly Running[];
  /** CPU of every process of the cluster (each instance's tree and nginx's), per pid, in microseconds. */
  cpu(): Map<number, number>;
}

/**
 * A measurement added to the scale-out scenario (the hook for rows such as the invalidation round
 * trip): run on each cluster size, printed as a table of its own, one row per size.
 */
export interface ScaleOutProbe {
  readonly title: string;
  /** The column headers after the size column. */
  readonly columns: readonly string[];
  /** The row's cells for this cluster (one per column), measured while nothing else loads it. */
  measure(cluster: ScaleOutCluster, seconds: number): Promise<ReadonlyArray<string | number>>;
}

/** Sequential PUTs per size for the invalidation probe. */
const WRITES = 400;

/**
 * The invalidation round trip with and without peers: sequential PUT /items/:id (a memory-cached
 * route's invalidation, carried to every other instance by the bus before the reply) straight to
 * instance 0, so nginx is not in the figure. With one instance there is no peer to wait for: the
 * difference between the rows is what the bus costs a write.
 */
export const INVALIDATION_PROBE: ScaleOutProbe = {
  title: `invalidation: ${WRITES} sequential PUTs to instance 0 (memory cache + bus to the others), ms`,
  columns: ['PUT p50', 'PUT p99'],
  async measure(cluster) {
    const instance = cluster.instances[0] as Running;
    const client = new Client(`http://127.0.0.1:${instance.port}`);
    try {
      const put = async (i: number): Promise<number> => {
        const started = performance.now();
        const res = await client.request({ method: 'PUT', path: '/items/bench', body: JSON.stringify({ i }), headers: { 'content-type': 'application/json' } });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`PUT /items/bench answered ${res.statusCode}`);
        return performance.now() - started;
      };
      for (let i = 0; i < 50; i++) await put(i); // warm-up
      const times: number[] = [];
      for (let i = 0; i < WRITES; i++) times.push(await put(i));
      times.sort((a, b) => a - b);
      const at = (q: number): string => (times[Math.min(times.length - 1, Math.floor(q * times.length))] as number).toFixed(2);
      return [at(0.5), at(0.99)];
    } finally {
      await client.close();
    }
  },
};

/** Probes every scale-out run adds (push one to add a table; they run after the req/s measurement of each size). */
export const SCALE_OUT_PROBES: ScaleOutProbe[] = [INVALIDATION_PROBE];

/**
 * wrk on `cluster.url` (nginx's) for `seconds` after a 2 s warm-up: req/s, latency, and CPU per
 * request summed over `cluster.cpu()` (every actorrt process and nginx), in microseconds. For probes too.
 */
export async function measureCluster(cluster: ScaleOutCluster, path: string, seconds: number, options: Partial<LoadOptions> = {}): Promise<Run> {
  const url = `${cluster.url}${path}`;
  await load(url, { connections: CONNECTIONS, seconds: 2, ...options });
  const before = cluster.cpu();
  const result = await load(url, { connections: CONNECTIONS, seconds, ...options });
  return { ...result, cpuUs: cpuBetween(before, cluster.cpu()) / Math.max(1, result.rps * seconds) };
}

/**
 * `size` instances of `topology` (`workers` front workers each, a pid file of their own, port 0)
 * and the example nginx in front of them; stop() stops them all.
 */
export async function startCluster(size: number, workers: number, topology = TOPOLOGY): Promise<ScaleOutCluster & { stop(): Promise<void> }> {
  const pidDir = mkdtempSync(join(tmpdir(), 'actorrt-bench-pids-'));
  const instances: Running[] = [];
  let nginx: Nginx | undefined;
  const stop = async (): Promise<void> => {
    await nginx?.stop();
    await Promise.all(instances.map((i) => i.stop()));
    rmSync(pidDir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < size; i++) {
      instances.push(await startServer([join(ROOT, 'dist', 'runtime', 'cli.js'), 'start', topology, '--port', '0', '--workers', String(workers),
        '--pid-file', join(pidDir, `${i}.pid`)], /actorrt ready on http:\/\/[^:]+:(\d+)/));
    }
    nginx = await startNginx(instances.map((i) => `127.0.0.1:${i.port}`));
  } catch (err) {
    await stop();
    throw err;
  }
  const roots = [...instances.map((i) => i.pid), nginx.pid];
  const cpu = (): Map<number, number> => new Map(roots.flatMap((pid) => [...treeCpu(pid)]));
  return { url: nginx.url, nginx, instances, cpu, stop };
}

/**
 * Issue 23's scenario: 1, 2 and 3 actorrt instances (examples/deploy/nginx/actorrt.yml, `workers`
 * front workers each: BENCH_SCALE_OUT_WORKERS, default 1) behind the example nginx on this machine,
 * wrk through nginx. On a machine with fewer cores than processes req/s cannot grow; what must hold
 * is CPU per request (every actorrt process and nginx) staying flat as instances are added. One
 * instance reached directly (no nginx) is the last row: nginx's own share. Then SCALE_OUT_PROBES.
 */
export async function scaleOutScenario(rounds: number, seconds: number, probes: readonly ScaleOutProbe[] = SCALE_OUT_PROBES): Promise<void> {
  if (spawnSync('nginx', ['-v']).error !== undefined) {
    process.stdout.write('\n## scale-out: skipped, nginx is not installed (apt-get install nginx-light)\n');
    return;
  }
  const workers = Number(process.env['BENCH_SCALE_OUT_WORKERS'] ?? 1);
  const sizes = [1, 2, 3];
  const rows: Row[] = [...sizes.map((n) => ({ name: `${n} instance${n === 1 ? '' : 's'} behind nginx`, runs: [] as Run[] })), { name: '1 instance, direct (no nginx)', runs: [] }];
  const probeCells = probes.map(() => sizes.map(() => [] as Array<ReadonlyArray<string | number>>));
  for (let round = 0; round < rounds; round++) {
    // Alternate the order every round so drift on a shared machine hits every size alike.
    const order = round % 2 === 0 ? rows.map((_, i) => i) : rows.map((_, i) => rows.length - 1 - i);
    for (const i of order) {
      const direct = i === sizes.length;
      const cluster = await startCluster(direct ? 1 : sizes[i] as number, workers);
      try {
        if (direct) {
          const instance = cluster.instances[0] as Running;
          const viaInstance = { ...cluster, url: `http://127.0.0.1:${instance.port}`, cpu: () => treeCpu(instance.pid) };
          (rows[i] as Row).runs.push(await measureCluster(viaInstance, PATH, seconds));
          continue;
        }
        (rows[i] as Row).runs.push(await measureCluster(cluster, PATH, seconds));
        for (const [p, probe] of probes.entries()) probeCells[p]?.[i]?.push(await probe.measure(cluster, seconds));
      } finally {
        await cluster.stop();
      }
    }
  }
  report(`scale-out: N instances (${workers} front worker${workers === 1 ? '' : 's'} each) behind nginx (examples/deploy/nginx), GET ${PATH}, ${LOAD_GENERATOR} -c${CONNECTIONS} through nginx, `
    + `${seconds}s x ${rounds}; CPU us/req sums every actorrt process and nginx (target: x CPU flat as instances are added)`, rows);
  for (const [p, probe] of probes.entries()) {
    process.stdout.write(`\n## scale-out: ${probe.title}\n${'instances'.padEnd(12)}${probe.columns.map((c) => c.padStart(24)).join('')}   (each round)\n`);
    for (const [s, size] of sizes.entries()) {
      const cells = probeCells[p]?.[s] ?? [];
      process.stdout.write(`${String(size).padEnd(12)}${probe.columns.map((_, c) => ` ${cells.map((r) => String(r[c] ?? '')).join(' / ')}`.padStart(24)).join('')}\n`);
    }
  }
}
