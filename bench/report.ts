import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { LOAD_GENERATOR } from './load.js';
import { ROOT } from './servers.js';

const START = '<!-- bench:report:start -->';
const END = '<!-- bench:report:end -->';

/** The machine and versions a report was measured on. */
export function machine(): string {
  const cpu = cpus();
  const version = (pkg: string): string => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  let wrk = LOAD_GENERATOR;
  try {
    wrk = execFileSync('wrk', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]?.trim() ?? wrk;
  } catch { /* wrk -v exits 1 on some builds; keep the name */ }
  return [
    `- machine: ${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform} ${process.arch}`,
    `- node ${process.version}; actorrt ${version('../')}; undici ${version('undici')}, nact ${version('nact')}, fastify ${version('fastify')}, keyv ${version('keyv')}`,
    `- load: ${wrk}, on the same cores as the servers (every contender alike)`,
  ].join('\n');
}

/**
 * Replace the generated section of docs/benchmarks.md (between its markers) with this run's
 * output: the machine, then every scenario's table as printed (medians of the rounds, ratios
 * against the baseline measured in the same run).
 */
export function writeReport(output: string, when: Date): void {
  const file = join(ROOT, 'docs', 'benchmarks.md');
  const doc = readFileSync(file, 'utf8');
  const section = `${START}\n## Latest full run (${when.toISOString().slice(0, 16).replace('T', ' ')} UTC, written by \`npm run bench\`)\n\n${machine()}\n\n\`\`\`text\n${output.trim()}\n\`\`\`\n${END}`;
  const at = doc.indexOf(START);
  const end = doc.indexOf(END);
  const next = at === -1 || end === -1 ? `${doc.trimEnd()}\n\n${section}\n` : `${doc.slice(0, at)}${section}${doc.slice(end + END.length)}`;
  writeFileSync(file, next);
}
