import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { load, LOAD_GENERATOR, median, type LoadResult } from './load.js';
import { ROOT, startActorrt } from './servers.js';

/** The same topology with the greeter as TypeScript (loaded through tsx, as examples/ write actors) and as plain JavaScript. */
const VARIANTS = [
  { name: 'TypeScript actors', topology: join(ROOT, 'bench', 'topologies', 'reload.yml') },
  { name: 'JavaScript actors', topology: join(ROOT, 'bench', 'topologies', 'reload-mjs.yml') },
];
/** The sizes a resize alternates between: inline actors per worker, isolated processes. */
const SHAPES = [['greeter=16', 'iso.processes=3'], ['greeter=2', 'iso.processes=1'], ['greeter=8', 'iso.processes=2'], ['greeter=4', 'iso.processes=1']];
const RESIZE_EVERY_MS = 2000;
const RESIZING_SECONDS = 20;
const PATHS = ['/hello/bench', '/iso/bench'];

interface Runs { readonly steady: LoadResult[]; readonly resizing: LoadResult[]; readonly resizes: number[] }

/**
 * Issue 11: wrk -c64 over an inline and an isolated route, first steady, then while `actorrt
 * scale` resizes both pools every 2 s for 20 s (processes started and drained, actors added and
 * retired). Prints failed requests (non-2xx + socket errors; target 0) and p99 during the resizes
 * vs steady (target <= 1.5x), medians of `rounds`, for TypeScript and JavaScript actors
 * alternately (a process booting a .ts actor spends ~220 ms of CPU in the TypeScript loader).
 */
export async function reloadScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const runs: Runs[] = VARIANTS.map(() => ({ steady: [], resizing: [], resizes: [] }));
  for (let round = 0; round < rounds; round++) {
    for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) {
      await measure((VARIANTS[i] as typeof VARIANTS[number]).topology, workers, seconds, runs[i] as Runs);
    }
  }
  process.stdout.write(`\n## reload: resizes under load (inline + isolated route, ${LOAD_GENERATOR} -c64; steady ${seconds}s, then a resize every ${RESIZE_EVERY_MS / 1000}s for ${RESIZING_SECONDS}s) x ${rounds}\n`
    + `${''.padEnd(48)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(9)}\n`);
  VARIANTS.forEach((v, i) => {
    const { steady, resizing, resizes } = runs[i] as Runs;
    const ratio = median(resizing.map((r) => r.p99)) / median(steady.map((r) => r.p99));
    process.stdout.write(row(`${v.name}: steady`, steady) + row(`${v.name}: resizing (${resizes.join('/')} resizes)`, resizing)
      + `  failed requests during resizes: ${resizing.reduce((a, r) => a + r.errors, 0)} (target 0); p99 resizing / steady = ${ratio.toFixed(2)}x (target <= 1.5x)\n`);
  });
}

function row(name: string, runs: readonly LoadResult[]): string {
  return `${name.padEnd(48)}${median(runs.map((r) => r.rps)).toFixed(0).padStart(9)}${median(runs.map((r) => r.p50)).toFixed(2).padStart(9)}`
    + `${median(runs.map((r) => r.p99)).toFixed(2).padStart(9)}${String(runs.reduce((a, r) => a + r.errors, 0)).padStart(9)}`
    + `   runs p99: ${runs.map((r) => r.p99.toFixed(2)).join(' / ')}\n`;
}

async function measure(topology: string, workers: number, seconds: number, into: Runs): Promise<void> {
  const server = await startActorrt(topology, workers);
  try {
    const url = `http://127.0.0.1:${server.port}/hello/bench`;
    await load(url, { connections: 64, seconds: 2, paths: PATHS });
    into.steady.push(await load(url, { connections: 64, seconds, paths: PATHS }));
    let done = false;
    const resizer = (async (): Promise<number> => {
      let n = 0;
      await sleep(RESIZE_EVERY_MS / 2);
      while (!done) {
        const started = Date.now();
        const code = await scale(topology, SHAPES[n % SHAPES.length] as string[]);
        if (code !== 0) throw new Error(`actorrt scale exited ${code}`);
        n++;
        await sleep(Math.max(0, RESIZE_EVERY_MS - (Date.now() - started)));
      }
      return n;
    })();
    into.resizing.push(await load(url, { connections: 64, seconds: RESIZING_SECONDS, paths: PATHS }));
    done = true;
    into.resizes.push(await resizer);
  } finally {
    await server.stop();
  }
}

/** `actorrt scale <topology> ...` as a user would run it; resolves with its exit code. */
function scale(topology: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'runtime', 'cli.js'), 'scale', topology, ...args], { stdio: 'ignore' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}
