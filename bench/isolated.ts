import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { report, sideBySide, type Row } from './http.js';
import { load, LOAD_GENERATOR, median, type LoadResult } from './load.js';
import { ROOT, startActorrt, startBare } from './servers.js';

/** `met` or `missed`, as every target line prints it. */
export function verdict(met: boolean): string {
  return met ? 'met' : 'MISSED';
}

/**
 * Issue 24: the same route in a thread pool (a worker thread's port per front worker), next to the
 * bare cluster, the inline pool and an isolated pool (a Unix-socket hop).
 */
export async function threadsScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const topology = (file: string): string => join(ROOT, 'bench', 'topologies', file);
  const rows = await sideBySide([
    { name: `bare node:http cluster (${workers}w)`, start: () => startBare(workers), path: '/hello/bench' },
    { name: `actorrt inline pool (${workers}w)`, start: () => startActorrt(join(ROOT, 'examples', 'hello', 'actorrt.yml'), workers), path: '/hello/bench' },
    { name: `actorrt thread pool (${workers}w x 1t)`, start: () => startActorrt(topology('threads.yml'), workers), path: '/hello/bench' },
    { name: `actorrt isolated pool (${workers}w+1p)`, start: () => startActorrt(topology('isolated.yml'), workers), path: '/hello/bench' },
  ], rounds, seconds, 64);
  report(`thread-pool route, GET /hello/:name through a worker thread, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (targets: >= 0.85x bare req/s, CPU/req <= 1.3x bare)`, rows);
  const rps = (row: Row | undefined): number => median((row?.runs ?? []).map((r) => r.rps));
  const cpu = (row: Row | undefined): number => median((row?.runs ?? []).map((r) => r.cpuUs));
  const x = rps(rows[2]) / rps(rows[0]);
  const c = cpu(rows[2]) / cpu(rows[0]);
  process.stdout.write(`thread route / bare: ${x.toFixed(2)}x req/s (target >= 0.85x: ${verdict(x >= 0.85)}), ${c.toFixed(2)}x CPU per request (target <= 1.3x: ${verdict(c <= 1.3)})\n`);
}

/** Issue 5: the same route served by an isolated pool (one channel hop) vs the bare cluster. */
export async function isolatedScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const rows = await sideBySide([
    { name: `bare node:http cluster (${workers}w)`, start: () => startBare(workers), path: '/hello/bench' },
    { name: `bare cluster + NDJSON hop (${workers}w+1p)`, start: () => startBare(workers, 'hop'), path: '/hello/bench' },
    { name: `bare + coalescing NDJSON hop (${workers}w+1p)`, start: () => startBare(workers, 'hop-coalesced'), path: '/hello/bench' },
    { name: `actorrt isolated pool (${workers}w+1p)`, start: () => startActorrt(join(ROOT, 'bench', 'topologies', 'isolated.yml'), workers), path: '/hello/bench' },
  ], rounds, seconds, 64);
  report(`isolated-pool route, GET /hello/:name over a Unix-socket channel, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (targets: >= 0.65x bare req/s, CPU/req <= 1.2x the coalescing hop)`, rows);
  const cpu = (row: Row | undefined): number => median((row?.runs ?? []).map((r) => r.cpuUs));
  process.stdout.write(`actorrt isolated CPU per request / coalescing hop: ${(cpu(rows[3]) / cpu(rows[2])).toFixed(2)}x (target <= 1.2x)\n`);
}

/**
 * Issue 5's isolation scenario: the 20 ms CPU route under steady load (8 connections) while the
 * light route is measured (16 connections). (a) both routes share one inline pool; (b) the CPU
 * route has its own process. Reports the light route's p99 in both; target (b) >= 5x lower.
 */
export async function isolationScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const variants = [
    { name: '(a) CPU + light in one inline pool', topology: 'isolation-shared.yml' },
    { name: '(b) CPU route in processes: 1', topology: 'isolation-split.yml' },
    { name: '(c) CPU route in threads: 1', topology: 'isolation-threads.yml' },
  ];
  const results = variants.map(() => [] as LoadResult[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, v] of (round % 2 === 0 ? variants : [...variants].reverse()).entries()) {
      const index = round % 2 === 0 ? i : variants.length - 1 - i;
      const server = await startActorrt(join(ROOT, 'bench', 'topologies', v.topology), workers);
      try {
        const base = `http://127.0.0.1:${server.port}`;
        const cpu = background(`${base}/cpu`, seconds + 3);
        await new Promise((r) => setTimeout(r, 1000));
        (results[index] as LoadResult[]).push(await load(`${base}/hello/light`, { connections: 16, seconds }));
        await cpu;
      } finally {
        await server.stop();
      }
    }
  }
  process.stdout.write(`\n## isolation: light route p99 while a 20 ms CPU route is loaded (${LOAD_GENERATOR}: 8 conns on /cpu, 16 on the light route), ${seconds}s x ${rounds}\n`);
  const p99s = results.map((runs) => median(runs.map((r) => r.p99)));
  variants.forEach((v, i) => {
    const runs = results[i] as LoadResult[];
    process.stdout.write(`${v.name.padEnd(40)} light req/s ${median(runs.map((r) => r.rps)).toFixed(0).padStart(7)}  p50 ${median(runs.map((r) => r.p50)).toFixed(2).padStart(7)} ms  p99 ${(p99s[i] as number).toFixed(2).padStart(8)} ms   runs p99: ${runs.map((r) => r.p99.toFixed(1)).join(' / ')}\n`);
  });
  const processes = (p99s[0] as number) / (p99s[1] as number);
  const threads = (p99s[0] as number) / (p99s[2] as number);
  process.stdout.write(`light-route p99 (a)/(b) processes = ${processes.toFixed(1)}x (target >= 5x: ${verdict(processes >= 5)})\n`);
  process.stdout.write(`light-route p99 (a)/(c) threads = ${threads.toFixed(1)}x (target >= 100x: ${verdict(threads >= 100)})\n`);
}

/** A second load generator in the background (wrk when installed), for the CPU route. */
function background(url: string, seconds: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('wrk', ['-t1', '-c8', `-d${seconds}s`, url], { stdio: 'ignore' });
    child.on('error', () => resolve());
    child.on('exit', () => resolve());
  });
}
