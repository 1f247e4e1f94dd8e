import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { request } from 'undici';
import { report, sideBySide } from './http.js';
import { load, LOAD_GENERATOR, median } from './load.js';
import { ROOT, startActorrt, startBare, type Running } from './servers.js';

interface Scrapes {
  /** Each scrape's time, ms. */
  readonly times: number[];
  /** The largest event-loop delay the primary reported for itself (5 s windows), ms. */
  primaryLag: number;
  readonly bytes: number[];
}

/** A Prometheus-like scraper: GET `url` every `everyMs` until stopped. */
function scraper(url: string, everyMs: number): { stop(): Promise<Scrapes> } {
  const out: Scrapes = { times: [], primaryLag: 0, bytes: [] };
  let running = true;
  const loop = (async (): Promise<void> => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await request(url);
        const text = await res.body.text();
        out.times.push(performance.now() - t0);
        out.bytes.push(Buffer.byteLength(text));
        const lag = /^actorrt_process_event_loop_lag_max_seconds\{role="primary"[^}]*\} (\S+)$/m.exec(text)?.[1];
        if (lag !== undefined) out.primaryLag = Math.max(out.primaryLag, Number(lag) * 1000);
      } catch { /* the instance is starting or stopping */ }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return { stop: async () => { running = false; await loop; return out; } };
}

/** Start an instance and keep a scraper on its metrics listener while it runs. */
async function scraped(topology: string, workers: number, metricsUrl: string): Promise<Running> {
  const server = await startActorrt(topology, workers);
  const s = scraper(metricsUrl, 1000);
  return { ...server, stop: async () => { await s.stop(); await server.stop(); } };
}

/**
 * Issue 22's cost targets: the inline route with metrics on (counted on the hot path, scraped
 * every second) vs off (`admin.metrics: false`), side by side with the bare cluster; then the scrape
 * time with 16 processes (8 front workers, 8 pool processes) under load, and the primary's largest
 * event-loop delay meanwhile, as the primary measures it itself.
 */
export async function metricsScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const on = join(ROOT, 'bench', 'topologies', 'metrics-on.yml');
  const off = join(ROOT, 'bench', 'topologies', 'metrics-off.yml');
  const rows = await sideBySide([
    { name: `bare node:http cluster (${workers}w)`, start: () => startBare(workers), path: '/hello/bench' },
    { name: `actorrt inline, metrics off (${workers}w)`, start: () => startActorrt(off, workers), path: '/hello/bench' },
    { name: `actorrt inline, metrics on, scraped 1/s (${workers}w)`, start: () => scraped(on, workers, 'http://127.0.0.1:19464/metrics'), path: '/hello/bench' },
  ], rounds, seconds, 64);
  report(`metrics cost, inline route, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (targets: on >= 0.97x off req/s, CPU/req <= 1.03x off)`, rows);
  const rps = (i: number): number => median((rows[i]?.runs ?? []).map((r) => r.rps));
  const cpu = (i: number): number => median((rows[i]?.runs ?? []).map((r) => r.cpuUs));
  process.stdout.write(`metrics on / off: ${(rps(2) / rps(1)).toFixed(3)}x req/s, ${(cpu(2) / cpu(1)).toFixed(3)}x CPU per request\n`);

  // Scrape time with 16 processes, every 100 ms: idle, under a moderate load (-c4) and a saturating one (-c32).
  const big = await startActorrt(join(ROOT, 'bench', 'topologies', 'metrics-16.yml'), 8);
  try {
    const url = 'http://127.0.0.1:19465/metrics';
    process.stdout.write(`\n## scrape with 16 processes (8 front workers + 8 pool processes), every 100 ms for ${seconds}s (targets: p99 < 50 ms, primary's event loop never blocked > 20 ms)\n`);
    for (const connections of [0, 4, 32]) {
      const loadRun = connections === 0 ? new Promise((r) => setTimeout(r, seconds * 1000)) : load(`http://127.0.0.1:${big.port}/iso/bench`, { connections, seconds });
      const s = scraper(url, 100);
      await loadRun;
      const run = await s.stop();
      const times = run.times.sort((a, b) => a - b);
      const p = (q: number): string => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN).toFixed(1);
      process.stdout.write(`${connections === 0 ? 'idle' : `${LOAD_GENERATOR} -c${connections} on the pool route`}: ${times.length} scrapes of ${((run.bytes[0] ?? 0) / 1024).toFixed(0)} KiB: `
        + `p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms; primary's largest event-loop delay ${run.primaryLag.toFixed(1)} ms\n`);
    }
  } finally {
    await big.stop();
  }
}
