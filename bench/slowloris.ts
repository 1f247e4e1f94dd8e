import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, LOAD_GENERATOR, median, type LoadResult } from './load.js';
import { ROOT, startActorrt } from './servers.js';

/**
 * Issue 14's hostile-client figure: the p99 of normal requests (the inline route, 16 connections)
 * without and then with slowhttptest holding 1000 slow-header connections (Slowloris) against the
 * same instance. Target: p99 with <= 2x without. Needs slowhttptest (Debian package).
 */
export async function slowlorisScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const quiet: LoadResult[] = [];
  const attacked: LoadResult[] = [];
  let attackers = 0;
  for (let round = 0; round < rounds; round++) {
    const server = await startActorrt(join(ROOT, 'examples', 'hello', 'actorrt.yml'), workers);
    try {
      const url = `http://127.0.0.1:${server.port}/hello/bench`;
      await load(url, { connections: 16, seconds: 2 });
      quiet.push(await load(url, { connections: 16, seconds }));
      const attack = slowhttptest(server.port, seconds + 15);
      if (attack === undefined) {
        process.stdout.write('\n## slowloris: skipped (apt-get install slowhttptest)\n');
        return;
      }
      await new Promise((r) => setTimeout(r, 8000)); // slowhttptest opens 200 connections a second
      attackers = openConnections(server.port);
      attacked.push(await load(url, { connections: 16, seconds }));
      attack.kill('SIGKILL');
    } finally {
      await server.stop();
    }
  }
  const p99 = (runs: LoadResult[]): number => median(runs.map((r) => r.p99));
  process.stdout.write(`\n## slowloris: normal requests (${LOAD_GENERATOR} -c16 on the inline route) without / with slowhttptest -H -c 1000, ${seconds}s x ${rounds}\n`
    + `without: ${median(quiet.map((r) => r.rps)).toFixed(0)} req/s, p99 ${p99(quiet).toFixed(2)} ms   runs p99: ${quiet.map((r) => r.p99.toFixed(2)).join(' / ')}\n`
    + `with ${attackers} slow connections open: ${median(attacked.map((r) => r.rps)).toFixed(0)} req/s, p99 ${p99(attacked).toFixed(2)} ms   runs p99: ${attacked.map((r) => r.p99.toFixed(2)).join(' / ')}\n`
    + `p99 with / without = ${(p99(attacked) / p99(quiet)).toFixed(2)}x (target <= 2x); errors with: ${attacked.reduce((a, r) => a + r.errors, 0)}\n`);
}

function slowhttptest(port: number, seconds: number): ChildProcess | undefined {
  if (spawnSync('slowhttptest', ['-h']).error !== undefined) return undefined;
  const child = spawn('slowhttptest', ['-H', '-c', '1000', '-r', '200', '-i', '5', '-l', String(seconds), '-u', `http://127.0.0.1:${port}/hello/slow`, '-p', '3'], { stdio: 'ignore' });
  child.on('error', () => undefined);
  return child;
}

/** Established TCP connections to `port` on this machine (server side), from /proc/net/tcp. */
function openConnections(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f[1]?.endsWith(`:${hex}`) && f[3] === '01') n++;
      }
    } catch { /* no IPv6 */ }
  }
  return n;
}
