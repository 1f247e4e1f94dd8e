import { join } from 'node:path';
import { cpuBetween, treeCpu } from './cpu.js';
import { load, LOAD_GENERATOR, median, type LoadOptions, type LoadResult } from './load.js';
import { baselineRows, ROOT, startActorrt, startBare, startFastify, type Running } from './servers.js';

/** One measured run: the load result and the CPU the contender's processes spent per request. */
export type Run = LoadResult & { readonly cpuUs: number };

export interface Row {
  readonly name: string;
  readonly runs: Run[];
}

interface Contender {
  readonly name: string;
  start(): Promise<Running>;
  readonly path: string;
  readonly options?: Partial<LoadOptions>;
}

/**
 * Run each contender `rounds` times, alternating their order every round so drift on a shared
 * machine hits both sides alike. Each measurement is preceded by a short warm-up.
 */
export async function sideBySide(contenders: readonly Contender[], rounds: number, seconds: number, connections: number): Promise<Row[]> {
  const rows = contenders.map((c) => ({ name: c.name, runs: [] as Run[] }));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders.map((_, i) => i) : contenders.map((_, i) => contenders.length - 1 - i);
    for (const i of order) {
      const c = contenders[i] as Contender;
      const server = await c.start();
      try {
        const url = `http://127.0.0.1:${server.port}${c.path}`;
        await load(url, { connections, seconds: 2, ...c.options });
        const before = treeCpu(server.pid);
        const result = await load(url, { connections, seconds, ...c.options });
        const cpuUs = cpuBetween(before, treeCpu(server.pid)) / Math.max(1, result.rps * seconds);
        (rows[i] as Row).runs.push({ ...result, cpuUs });
      } finally {
        await server.stop();
      }
    }
  }
  return rows;
}

/** Print medians (req/s, latency, CPU per request) and ratios against the first row (the baseline). */
export function report(title: string, rows: readonly Row[]): void {
  const base = rows[0];
  if (base === undefined) return;
  const baseRps = median(base.runs.map((r) => r.rps));
  const baseP99 = median(base.runs.map((r) => r.p99));
  const baseCpu = median(base.runs.map((r) => r.cpuUs));
  process.stdout.write(`\n## ${title}\n${'scenario'.padEnd(36)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}`
    + `${'x req/s'.padStart(9)}${'x p99'.padStart(8)}${'CPU us/req'.padStart(12)}${'x CPU'.padStart(7)}   runs (req/s)\n`);
  for (const row of rows) {
    const rps = median(row.runs.map((r) => r.rps));
    const p99 = median(row.runs.map((r) => r.p99));
    const cpu = median(row.runs.map((r) => r.cpuUs));
    const errors = row.runs.reduce((a, r) => a + r.errors, 0);
    const cells = [rps.toFixed(0), median(row.runs.map((r) => r.p50)).toFixed(2), p99.toFixed(2), String(errors), (rps / baseRps).toFixed(2), (p99 / baseP99).toFixed(2), cpu.toFixed(1), (cpu / baseCpu).toFixed(2)];
    process.stdout.write(`${row.name.padEnd(36)}${cells.map((c, i) => c.padStart([10, 9, 9, 8, 9, 8, 12, 7][i] as number)).join('')}   ${row.runs.map((r) => r.rps.toFixed(0)).join(' / ')}\n`);
  }
}

/** A row's median req/s and CPU per request. */
export function medians(row: Row | undefined): { rps: number; cpu: number } {
  return { rps: median((row?.runs ?? []).map((r) => r.rps)), cpu: median((row?.runs ?? []).map((r) => r.cpuUs)) };
}

/** Print one target's line: the measured ratio, the bound, and whether it is met. */
export function target(what: string, ratio: number, bound: number, atMost = false): void {
  const met = atMost ? ratio <= bound : ratio >= bound;
  process.stdout.write(`${what}: ${ratio.toFixed(2)}x (target ${atMost ? '<=' : '>='} ${bound.toFixed(2)}x): ${met ? 'met' : 'MISSED'}\n`);
}

/** Issue 4's scenario: an inline actor route vs the bare cluster returning the same JSON. */
export async function inlineScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const rows = await sideBySide([
    { name: `bare node:http cluster (${workers}w)`, start: () => startBare(workers), path: '/hello/bench' },
    { name: `fastify cluster (${workers}w)`, start: () => startFastify(workers), path: '/hello/bench' },
    { name: `actorrt inline route (${workers}w)`, start: () => startActorrt(join(ROOT, 'examples', 'hello', 'actorrt.yml'), workers), path: '/hello/bench' },
    ...baselineRows('actorrt inline route', join(ROOT, 'examples', 'hello', 'actorrt.yml'), workers, '/hello/bench'),
  ], rounds, seconds, 64);
  report(`inline route, GET /hello/:name, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (targets: >= 1.0x bare req/s, >= 1.05x fastify, CPU/req <= 1.1x bare)`, rows);
  const [bare, fastify, actorrt] = [medians(rows[0]), medians(rows[1]), medians(rows[2])];
  target('inline route / bare cluster, req/s', actorrt.rps / bare.rps, 1.0);
  target('inline route / bare cluster, CPU per request', actorrt.cpu / bare.cpu, 1.1, true);
  target('inline route / fastify cluster, req/s', actorrt.rps / fastify.rps, 1.05);
}
