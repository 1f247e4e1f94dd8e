import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseScale, type ScaleOverride } from '../../config/scale.js';
import type { Config } from '../../config/types.js';
import { autoscaledUnit } from '../autoscale/policy.js';
import { ActorrtError } from '../errors.js';
import type { Command } from './command.js';
import { findInstance, topologyFile } from './instance.js';
import { printOutcome, RELOAD_WAIT } from './reload.js';

export const scale: Command = {
  usage: 'scale [file] <pool>=<n> ... [--write]',
  summary: 'resize pools of the running instance live',
  help: `Changes pool sizes of the running instance started from the topology file (default:
actorrt.yml): <pool>=<n> (or <pool>.size=<n>) sets the actors per process (per thread),
<pool>.processes=<n> the processes of an isolated pool, <pool>.threads=<n> the threads of a thread
pool in every front worker. New actors, threads and processes take requests once ready; removed
ones finish what they have queued first. Without --write only the running instance changes, and
the next reload returns to what the file says; with --write the file is edited too (comments and
layout kept) and then reloaded.

A pool with autoscale: scaling the unit its autoscaler changes (size for an inline pool, threads,
processes) pins it: the autoscaler leaves it alone until the next reload (actorrt reload, a save
of the file, SIGHUP), which resumes autoscaling from the pinned size clamped into min..max.
--write is refused for it: move autoscale.min / max in the file instead.

Options:
  --write        also write the new sizes into the topology file
  --dry-run      print the plan without applying it
  --json         print the outcome as JSON
  --pid-file F   the pid file the instance was started with`,
  options: { write: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, 'pid-file': { type: 'string' } },
  async run(values, positionals) {
    // The topology file is the one argument that is not <pool>=<n>, wherever it stands.
    const files = positionals.filter((a) => !a.includes('='));
    if (files.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', `scale takes at most one topology file; got ${files.join(', ')}`);
    const file = files[0];
    const overrides = parseScale(positionals.filter((a) => a.includes('=')));
    const instance = findInstance(values, file);
    const dryRun = values['dry-run'] === true;
    const json = values['json'] === true;
    if (values['write'] !== true || dryRun) {
      const code = printOutcome(await instance.ask('scale', { overrides: overrides.map((o) => `${o.pool}.${o.key}=${o.value}`), dryRun }, RELOAD_WAIT), json);
      if (code === 0 && !dryRun && !json) process.stdout.write('the topology file is unchanged: the next reload returns to it (use --write to keep the new sizes; autoscaled pools resume autoscaling from here)\n');
      return code;
    }
    const path = topologyFile(file);
    let source: string;
    try {
      source = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ActorrtError('ACTORRT_E_CONFIG_READ', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    await refuseAutoscaled(path, overrides);
    // Write beside and rename over, so the watcher (and anyone reading) never sees half a file.
    const temp = `${path}.actorrt-scale`;
    const { editScale } = await import('../../config/scale-edit.js');
    writeFileSync(temp, editScale(source, overrides));
    renameSync(temp, path);
    return printOutcome(await instance.ask('reload', { dryRun: false }, RELOAD_WAIT), json);
  },
};

/**
 * `--write` on the unit an autoscaled pool's scaler changes would only move its start size (a
 * reload keeps the running size): refused, naming what to edit instead. A file that does not load
 * is left to the reload, which reports it.
 */
async function refuseAutoscaled(path: string, overrides: readonly ScaleOverride[]): Promise<void> {
  const { loadConfig } = await import('../../config/validate.js');
  let config: Config;
  try {
    config = loadConfig(path);
  } catch {
    return;
  }
  for (const o of overrides) {
    const unit = autoscaledUnit(config.pools[o.pool]);
    if (unit === o.key) {
      throw new ActorrtError('ACTORRT_E_RELOAD_REFUSED', `pool "${o.pool}" autoscales its ${unit}: --write would only change the ${unit} it starts with; nothing was changed`,
        { hint: `change pools.${o.pool}.autoscale.min / max in ${path} to move its bounds, or scale without --write to pin it until the next reload (docs/autoscaling.md)` });
    }
  }
}
