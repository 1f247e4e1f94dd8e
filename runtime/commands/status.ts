import { join, resolve } from 'node:path';
import { ActorrtError } from '../errors.js';
import { adminRequest } from '../primary/admin.js';
import { PidFile } from '../primary/pid-file.js';
import type { ResourceStatus } from '../primary/resource-health.js';
import { SUPERVISION_EVENTS, type SupervisionCounts } from '../supervision/counters.js';
import type { Command } from './index.js';

interface Status {
  pid: number;
  url: string;
  uptime: number;
  workers: Array<{ index: number; pid?: number; up: boolean }>;
  workerRestarts: number;
  pools: Array<{
    name: string; kind: string; size: number; state: string; restarts?: number; processes?: Array<{ pid?: number; up: boolean }>; down?: string; lastError?: string;
    supervision: SupervisionCounts;
  }>;
  resources: ResourceStatus[];
}

export const status: Command = {
  usage: 'status [file] [--json]',
  summary: 'pools, processes, restarts and resource health of a running instance',
  help: `Asks the instance started from the topology file (default: actorrt.yml) for its state:
front workers, every pool (inline or isolated, up / starting / down), process ids, restarts, the
supervision totals since start (actor restarts / stops, escalations, process restarts, give-ups),
for a pool that was given up, why and its last error, and every resource: available, unavailable
(in which processes, since when, why) or degraded (upstream origins taken out by the health check).
Exits 1 while a pool is down or a resource is unavailable.

Options:
  --pid-file F   the pid file the instance was started with
  --json         print the raw status object`,
  options: { 'pid-file': { type: 'string' }, json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'status takes at most one topology file');
    const path = typeof values['pid-file'] === 'string' ? values['pid-file'] : PidFile.defaultPath(resolve(positionals[0] ?? 'actorrt.yml'));
    const entry = PidFile.readEntry(path);
    if (entry?.runtimeDir === undefined) {
      throw new ActorrtError('ACTORRT_E_NOT_RUNNING', `no running instance recorded in ${path}`, { hint: 'pass the topology file it was started with, or --pid-file' });
    }
    const answer = await adminRequest(join(entry.runtimeDir, 'admin.sock'), 'status') as Status;
    // Scripts and probes get the same verdict from either format.
    const code = answer.pools.some((p) => p.state === 'down') || answer.resources.some((r) => r.state === 'unavailable') ? 1 : 0;
    if (values['json'] === true) {
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return code;
    }
    const up = answer.workers.filter((w) => w.up).length;
    const lines = [
      `actorrt pid ${answer.pid} on ${answer.url}, up ${answer.uptime}s`,
      `front workers: ${up}/${answer.workers.length} up (pids ${answer.workers.map((w) => w.pid ?? '-').join(', ')}), ${answer.workerRestarts} restarts`,
      'pools:',
      ...answer.pools.map((p) => {
        const where = p.kind === 'inline' ? `inline, ${p.size} actors per worker` : `isolated, ${p.processes?.length ?? 0} processes x ${p.size} actors (pids ${(p.processes ?? []).map((x) => x.pid ?? '-').join(', ')}), ${p.restarts ?? 0} restarts`;
        const why = p.down === undefined ? '' : `\n      down: ${p.down}`;
        const acted = SUPERVISION_EVENTS.filter((e) => p.supervision[e] > 0).map((e) => `${p.supervision[e]} ${e}`);
        const supervision = acted.length === 0 ? '' : `\n      supervision: ${acted.join(', ')}`;
        return `  ${p.name.padEnd(16)} ${p.state.padEnd(8)} ${where}${why}${supervision}`;
      }),
      ...(answer.resources.length === 0 ? [] : ['resources:', ...answer.resources.map(describeResource)]),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return code;
  },
};

function describeResource(r: ResourceStatus): string {
  const head = `  ${r.name.padEnd(16)} ${r.state.padEnd(11)} ${r.type} ${r.address}`;
  if (r.state === 'unavailable') return `${head}\n      unavailable in ${r.unavailableIn.join(', ')} since ${r.since ?? '?'}: ${r.error ?? 'unknown error'}`;
  if (r.state === 'degraded') return `${head}\n      origins taken out: ${(r.originsOut ?? []).join(', ')} (since ${r.since ?? '?'})`;
  return head;
}
