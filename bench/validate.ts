import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/validate.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'runtime', 'cli.js');

/** A topology with `routes` routes over 10 pools, 2 caches and 3 resources. */
export function bigTopology(routes: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-bench-validate-'));
  mkdirSync(join(dir, 'actors'));
  writeFileSync(join(dir, 'actors', 'a.ts'), 'export default { receive: () => ({}) };\n');
  const lines = ['version: 1', 'resources:', '  db: { type: sqlite, file: ./a.db }', '  r: { type: redis }',
    '  up: { type: http, origins: [http://127.0.0.1:9001, http://127.0.0.1:9002] }',
    'caches:', '  local: { store: memory }', '  shared: { store: redis, resource: r }', 'pools:'];
  for (let p = 0; p < 10; p++) lines.push(`  p${p}:`, '    actor: ./actors/a.ts', '    size: 4', '    resources: [db]');
  lines.push('routes:');
  for (let i = 0; i < routes; i++) {
    if (i % 5 === 4) lines.push(`  - match: { path: /legacy${i}/* }`, '    proxy: up');
    else lines.push(`  - match: { method: GET, path: /r${i}/:id }`, `    pool: p${i % 10}`, `    cache: { use: ${i % 2 === 0 ? 'local' : 'shared'}, key: "r${i}:{params.id}", ttl: 10s }`);
  }
  const file = join(dir, 'actorrt.yml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Time loadConfig in-process (after warm-up) and the whole `actorrt validate` command. */
export function benchValidate(routes = 500, runs = 7): { inProcessMs: number; cliMs: number } {
  const file = bigTopology(routes);
  loadConfig(file); // warm-up: schema compile, JIT
  const inProcess: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    loadConfig(file);
    inProcess.push(performance.now() - t);
  }
  const cli: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    // The topology path only, as measured since issue 3 (importing the actor modules is a separate child process).
    const r = spawnSync(process.execPath, [CLI, 'validate', file, '--no-import'], { encoding: 'utf8' });
    cli.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`validate failed on the generated file:\n${r.stderr}`);
  }
  rmSync(dirname(file), { recursive: true, force: true });
  return { inProcessMs: median(inProcess), cliMs: median(cli) };
}
