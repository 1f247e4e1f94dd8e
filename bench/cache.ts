import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@keyv/redis';
import { Agent, request } from 'undici';
import { medians, report, sideBySide, target } from './http.js';
import { LOAD_GENERATOR, median } from './load.js';
import { baselineRows, ROOT, startActorrt, startBare } from './servers.js';

const TOPOLOGY = join(ROOT, 'bench', 'topologies', 'cache.yml');
const STORM = 1000;
const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * Issue 12's scenario. Hits: a cached route answered from memory and from Redis, against the bare
 * cluster building the same JSON (target >= 1.0x for a memory hit: a hit skips the actor) and, for
 * the Redis hit, against the bare cluster answering each request with one GET of a same-sized
 * JSON body from the same Redis (target >= 0.85x: what is measured is actorrt's share, not
 * Redis's, which neither side's CPU column counts: redis-server is no child of either). Miss
 * storm: 1000 concurrent requests on a cold key whose actor takes 50 ms, on a fresh instance each
 * round; prints how many times the actor ran (target: once per worker with memory, once in total
 * with Redis) and the p99 of the 1000.
 */
export async function cacheScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const namespace = `actorrt-bench-${process.pid}`;
  process.env['BENCH_CACHE_NAMESPACE'] = namespace;
  const runsDir = mkdtempSync(join(tmpdir(), 'actorrt-bench-runs-'));
  const runsFile = join(runsDir, 'runs.log');
  process.env['BENCH_RUNS_FILE'] = runsFile;
  try {
    const rows = await sideBySide([
      { name: `bare node:http cluster (${workers}w)`, start: () => startBare(workers), path: '/hello/bench' },
      { name: `bare cluster + Redis GET (${workers}w)`, start: () => startBare(workers, 'redis', REDIS_URL, `${namespace}:bare-body`), path: '/hello/bench' },
      { name: `actorrt cached, memory hit (${workers}w)`, start: () => startActorrt(TOPOLOGY, workers), path: '/hello/bench' },
      { name: `actorrt cached, Redis hit (${workers}w)`, start: () => startActorrt(TOPOLOGY, workers), path: '/shared/bench' },
      ...baselineRows('actorrt cached, memory hit', TOPOLOGY, workers, '/hello/bench'),
      // Its own namespace: the two builds may store entries in different formats, and each must read its own.
      ...baselineRows('actorrt cached, Redis hit', TOPOLOGY, workers, '/shared/bench', { BENCH_CACHE_NAMESPACE: `${namespace}-baseline` }),
    ], rounds, seconds, 64);
    report(`cached route, GET /hello/:name answered from the cache, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (targets: memory hit >= 1.0x bare, Redis hit >= 0.85x bare + Redis GET, req/s)`, rows);
    const [bare, bareRedis, memory, redis] = [medians(rows[0]), medians(rows[1]), medians(rows[2]), medians(rows[3])];
    target('memory hit / bare cluster, req/s', memory.rps / bare.rps, 1.0);
    target('Redis hit / bare cluster + Redis GET, req/s', redis.rps / bareRedis.rps, 0.85);
    process.stdout.write(`Redis hit / bare cluster + Redis GET, CPU per request: ${(redis.cpu / bareRedis.cpu).toFixed(2)}x; Redis hit / bare cluster (no Redis): ${(redis.rps / bare.rps).toFixed(2)}x req/s\n`);

    process.stdout.write(`\n## miss storm: ${STORM} concurrent requests on a cold key, actor 50 ms, ${workers} workers, ${rounds} rounds (target: 1 run per worker with memory, 1 in total with Redis)\n`);
    process.stdout.write(`${'store'.padEnd(10)}${'actor runs per round'.padEnd(24)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'errors'.padStart(8)}   p99 per round\n`);
    for (const store of ['local', 'shared'] as const) {
      const runs: number[] = [];
      const p99s: number[] = [];
      const p50s: number[] = [];
      let errors = 0;
      for (let round = 0; round < rounds; round++) {
        rmSync(runsFile, { force: true });
        const server = await startActorrt(TOPOLOGY, workers);
        try {
          const result = await storm(`http://127.0.0.1:${server.port}/storm/${store}/cold-${round}`);
          p99s.push(result.p99);
          p50s.push(result.p50);
          errors += result.errors;
          runs.push(existsSync(runsFile) ? readFileSync(runsFile, 'utf8').split('\n').filter((l) => l !== '').length : 0);
        } finally {
          await server.stop();
        }
      }
      process.stdout.write(`${(store === 'local' ? 'memory' : 'redis').padEnd(10)}${runs.join(' / ').padEnd(24)}${median(p50s).toFixed(0).padStart(8)}`
        + `${median(p99s).toFixed(0).padStart(8)}${String(errors).padStart(8)}   ${p99s.map((p) => p.toFixed(0)).join(' / ')}\n`);
    }
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
    await forget(namespace);
  }
}

/** Fire STORM requests at once, each on its own connection; latencies in ms. */
async function storm(url: string): Promise<{ p50: number; p99: number; errors: number }> {
  const agent = new Agent({ connections: STORM, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  try {
    await Promise.all(Array.from({ length: STORM }, async () => {
      const started = performance.now();
      try {
        const res = await request(url, { dispatcher: agent });
        await res.body.dump();
        if (res.statusCode !== 200) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - started);
    }));
  } finally {
    await agent.close();
  }
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(latencies.length * 0.5)] ?? NaN, p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN, errors };
}

/** Remove what the benchmark stored in Redis. */
async function forget(namespace: string): Promise<void> {
  const client = createClient({ url: REDIS_URL });
  try {
    await client.connect();
    for await (const keys of client.scanIterator({ MATCH: `${namespace}*` })) if (keys.length > 0) await client.unlink(keys);
  } catch { /* no Redis: nothing was stored */ } finally {
    if (client.isOpen) await client.close();
  }
}
