import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { medians, report, sideBySide, target } from './http.js';
import { LOAD_GENERATOR } from './load.js';
import { baselineRows, ROOT, startActorrt, startBare } from './servers.js';

/** Rows in the bench table; reads hit one id, so this only sizes the B-tree walk. */
const ITEMS = 100_000;

/** Issue 6: GET /items/:id through an SQLite resource vs a bare cluster running the same query. */
export async function sqliteScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-bench-'));
  const file = join(dir, 'items.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL, stock INTEGER NOT NULL)');
  const insert = db.prepare('INSERT INTO items (id, name, price, stock) VALUES (?, ?, ?, ?)');
  db.transaction(() => { for (let i = 1; i <= ITEMS; i++) insert.run(i, `item ${i}`, i / 100, i % 97); })();
  db.close();
  process.env['BENCH_SQLITE'] = file;
  try {
    const rows = await sideBySide([
      { name: `bare cluster + better-sqlite3 (${workers}w)`, start: () => startBare(workers, 'sqlite', file), path: '/items/4242' },
      { name: `actorrt sqlite route (${workers}w)`, start: () => startActorrt(join(ROOT, 'bench', 'topologies', 'sqlite.yml'), workers), path: '/items/4242' },
    ], rounds, seconds, 64);
    report(`SQLite read by primary key, GET /items/:id, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (target >= 0.85x req/s)`, rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Issue 6: the same upstream (the bare cluster) called directly, through the least a node proxy
 * can do (a bare cluster piping undici Pool.stream), and through an actorrt proxy route. The
 * proxies share the machine's cores with the upstream, so the ratio to direct is the whole cost
 * of the hop; the ratio between the two proxies is actorrt's own share of it. CPU per request of
 * the proxies counts the proxy processes only (the upstream is not in their process tree).
 */
export async function proxyScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const upstream = await startBare(workers);
  process.env['BENCH_UPSTREAM'] = `http://127.0.0.1:${upstream.port}`;
  try {
    const rows = await sideBySide([
      { name: `direct to the upstream (${workers}w)`, start: () => Promise.resolve({ port: upstream.port, pid: upstream.pid, stop: () => Promise.resolve() }), path: '/hello/bench' },
      { name: `bare cluster + undici proxy (${workers}w)`, start: () => startBare(workers, 'proxy', `http://127.0.0.1:${upstream.port}`), path: '/hello/bench' },
      { name: `actorrt proxy route (${workers}w)`, start: () => startActorrt(join(ROOT, 'bench', 'topologies', 'proxy.yml'), workers), path: '/hello/bench' },
      ...baselineRows('actorrt proxy route', join(ROOT, 'bench', 'topologies', 'proxy.yml'), workers, '/hello/bench'),
    ], rounds, seconds, 64);
    report(`proxy route vs direct call to the same upstream, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds} (target: actorrt >= 0.95x the bare undici proxy's req/s)`, rows);
    const [bare, actorrt] = [medians(rows[1]), medians(rows[2])];
    target('actorrt proxy route / bare undici proxy, req/s', actorrt.rps / bare.rps, 0.95);
    process.stdout.write(`actorrt proxy route / bare undici proxy, CPU per request: ${(actorrt.cpu / bare.cpu).toFixed(2)}x\n`);
  } finally {
    await upstream.stop();
  }
}
