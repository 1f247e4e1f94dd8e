import { ActorrtError, isErrorCode } from '../errors.js';
import { isReloadOutcome, type ReloadOutcome } from '../primary/status.js';
import type { Command } from './command.js';
import { findInstance } from './instance.js';

/** How long a reload may take before the command stops waiting (it goes on in the instance). */
export const RELOAD_WAIT = 120_000;

export const reload: Command = {
  usage: 'reload [file] [--roll] [--dry-run] [--json]',
  summary: 'apply the edited topology to the running instance',
  help: `Asks the instance started from the topology file (default: actorrt.yml) to re-read it and apply
the difference live: pool sizes and process counts, routes, pool settings; processes whose actor
module or resources changed are replaced one at a time, new before old. Prints the plan.
An invalid file changes nothing: the running topology keeps serving and the errors are printed as
file:line:col  CODE  message. A change of http.port or http.host is refused (restart needed).
Saving the file and SIGHUP to the primary do the same. Exits 0 once applied, 1 if refused.

New code is found by content: the actor module and the local modules it imports (relative
specifiers). After installing a new version of a package, or changing a file the code reads at
run time, --roll replaces every process anyway, one at a time, new before old.

Options:
  --roll         also replace every process, changed or not (ships new package versions)
  --dry-run      print the plan without applying it
  --json         print the outcome as JSON
  --pid-file F   the pid file the instance was started with`,
  options: { roll: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, 'pid-file': { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'reload takes at most one topology file');
    const instance = findInstance(values, positionals[0]);
    const answer = await instance.ask('reload', { dryRun: values['dry-run'] === true, roll: values['roll'] === true }, RELOAD_WAIT);
    return printOutcome(answer, values['json'] === true);
  },
};

/** Print a reload or scale outcome (plan, or errors one per line) and return the exit code. */
export function printOutcome(answer: unknown, json: boolean): number {
  if (!isReloadOutcome(answer)) {
    const { error: message, code } = (answer ?? {}) as { error?: unknown; code?: unknown };
    if (typeof message !== 'string') throw new ActorrtError('ACTORRT_E_INTERNAL', 'the instance gave an answer this actorrt does not understand');
    // A primary of an earlier build sends no code; what it refused then was the command's arguments.
    throw new ActorrtError(isErrorCode(code) ? code : 'ACTORRT_E_USAGE', message);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return answer.ok ? 0 : 1;
  }
  if (answer.ok) {
    process.stdout.write(`${describe(answer)}\n`);
    return 0;
  }
  const { error } = answer;
  for (const line of error?.issues ?? [`actorrt: ${error?.code ?? 'ACTORRT_E_INTERNAL'}  ${error?.message ?? 'reload failed'}`]) process.stderr.write(`${line}\n`);
  if (answer.plan.length > 0 && error?.code === 'ACTORRT_E_RELOAD_REFUSED') process.stderr.write(`nothing was changed; the plan would have been:\n${answer.plan.map((l) => `  ${l}`).join('\n')}\n`);
  else process.stderr.write('nothing was changed; the running topology keeps serving\n');
  return 1;
}

function describe(outcome: ReloadOutcome): string {
  if (outcome.plan.length === 0) return 'no changes: the running topology already matches (a saved file is applied as soon as it is saved)';
  const head = outcome.dryRun ? 'plan (dry run, nothing applied):' : 'applied:';
  return `${head}\n${outcome.plan.map((l) => `  ${l}`).join('\n')}`;
}
