import { join } from 'node:path';
import { load, LOAD_GENERATOR, type LoadOptions, type LoadResult } from './load.js';
import { ROOT, startActorrt, startBare, type Running } from './servers.js';

export interface Row {
  readonly name: string;
  readonly runs: LoadResult[];
}

interface Contender {
  readonly name: string;
  start(): Promise<Running>;
  readonly path: string;
  readonly options?: Partial<LoadOptions>;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/**
 * Run each contender `rounds` times, alternating their order every round so drift on a shared
 * machine hits both sides alike. Each measurement is preceded by a short warm-up.
 */
export async function sideBySide(contenders: readonly Contender[], rounds: number, seconds: number, connections: number): Promise<Row[]> {
  const rows = contenders.map((c) => ({ name: c.name, runs: [] as LoadResult[] }));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders.map((_, i) => i) : contenders.map((_, i) => contenders.length - 1 - i);
    for (const i of order) {
      const c = contenders[i] as Contender;
      const server = await c.start();
      try {
        const url = `http://127.0.0.1:${server.port}${c.path}`;
        await load(url, { connections, seconds: 2, ...c.options });
        (rows[i] as Row).runs.push(await load(url, { connections, seconds, ...c.options }));
      } finally {
        await server.stop();
      }
    }
  }
  return rows;
}

/** Print medians and ratios against the first row (the baseline). */
export function report(title: string, rows: readonly Row[]): void {
  const base = rows[0];
  if (base === undefined) return;
  const baseRps = median(base.runs.map((r) => r.rps));
  const baseP99 = median(base.runs.map((r) => r.p99));
  process.stdout.write(`\n## ${title}\n${'scenario'.padEnd(34)}${'req/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}${'x req/s'.padStart(9)}${'x p99'.padStart(8)}   runs (req/s)\n`);
  for (const row of rows) {
    const rps = median(row.runs.map((r) => r.rps));
    const p99 = median(row.runs.map((r) => r.p99));
    const errors = row.runs.reduce((a, r) => a + r.errors, 0);
    process.stdout.write(`${row.name.padEnd(34)}${rps.toFixed(0).padStart(10)}${median(row.runs.map((r) => r.p50)).toFixed(2).padStart(9)}`
      + `${p99.toFixed(2).padStart(9)}${String(errors).padStart(8)}${(rps / baseRps).toFixed(2).padStart(9)}${(p99 / baseP99).toFixed(2).padStart(8)}`
      + `   ${row.runs.map((r) => r.rps.toFixed(0)).join(' / ')}\n`);
  }
}

/** Issue 4's scenario: an inline actor route vs the bare cluster returning the same JSON. */
export async function inlineScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const rows = await sideBySide([
    { name: `bare node:http cluster (${workers}w)`, start: () => startBare(workers), path: '/hello/bench' },
    { name: `actorrt inline route (${workers}w)`, start: () => startActorrt(join(ROOT, 'examples', 'hello', 'actorrt.yml'), workers), path: '/hello/bench' },
  ], rounds, seconds, 64);
  report(`inline route, GET /hello/:name, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (target >= 0.90x req/s, p99 <= 1.5x)`, rows);
}
