import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadedDocument } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { ConfigError, formatIssue, type ConfigIssue } from '../../config/errors.js';
import { ActorrtError } from '../errors.js';
import type { Command } from './command.js';
import { DEFAULT_TOPOLOGY } from './instance.js';

export const validate: Command = {
  usage: 'validate [file] [--json]',
  summary: 'check a topology; errors as file:line:col',
  help: `Checks file (default: ./actorrt.yml) against the schema and its cross-references without starting anything.
Prints "ok: N pools, N routes, N resources, N caches" and exits 0, or one line per error
(file:line:col  CODE  message  (hint)) and exits 1.

Options:
  --json        print the errors as a JSON array (empty when the file is valid)
  --no-import   skip importing the actor modules (by default each is imported in a child process
                and its default export checked, so a syntax error or a missing export shows here)`,
  options: { json: { type: 'boolean' }, 'no-import': { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'validate takes at most one topology file (default: ./actorrt.yml)');
    const file = positionals[0] ?? DEFAULT_TOPOLOGY;
    const json = values['json'] === true;
    let issues: readonly ConfigIssue[];
    let config: Config | undefined;
    try {
      // Loaded here, not at the top: yaml and ajv are what `status` or `scale` should not pay for.
      const [{ loadFile }, { validateDocument }, { redactIssues }] = await Promise.all([
        import('../../config/load.js'), import('../../config/validate.js'), import('../../config/redact.js'),
      ]);
      const doc = loadFile(file);
      const result = validateDocument(doc);
      issues = result.ok ? [] : result.issues;
      config = result.ok ? result.config : undefined;
      if (config !== undefined && values['no-import'] !== true) {
        // A module's error may quote its path, which a placeholder may have built.
        issues = redactIssues(await checkActors(config, doc), doc);
        if (issues.length > 0) config = undefined;
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues = err.issues;
    }
    if (json) {
      process.stdout.write(`${JSON.stringify(issues, null, 2)}\n`);
    } else if (config !== undefined) {
      process.stdout.write(`ok: ${summarize(config)}\n`);
    } else {
      for (const issue of issues) process.stderr.write(`${formatIssue(issue)}\n`);
      process.stderr.write(`${issues.length} error${issues.length === 1 ? '' : 's'} in ${file}\n`);
    }
    return issues.length === 0 ? 0 : 1;
  },
};

/** How long importing every actor module may take before validate reports it as hanging. */
const IMPORT_TIMEOUT_MS = 30_000;
const CHECKER = fileURLToPath(new URL('./check-actors.js', import.meta.url));

/** Import every pool's actor module in a child process; one issue per module that fails, at its pool's `actor` key. */
async function checkActors(config: Config, doc: LoadedDocument): Promise<ConfigIssue[]> {
  const pools = Object.values(config.pools);
  const files = [...new Set(pools.map((p) => p.actor))];
  if (files.length === 0) return [];
  const child = spawnSync(process.execPath, [...process.execArgv, CHECKER, ...files], { encoding: 'utf8', timeout: IMPORT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  const checked = new Map<string, { error?: string; hint?: string }>();
  for (const line of (child.stdout ?? '').split('\n')) {
    try {
      const r = JSON.parse(line) as { file: string; error?: string; hint?: string };
      checked.set(r.file, r);
    } catch { /* not one of the checker's lines (an actor module printed something) */ }
  }
  // The first module without a result ended the import (exited, crashed, or hung); later ones were not reached.
  const culprit = files.find((f) => !checked.has(f));
  if (culprit !== undefined) {
    const why = child.error !== undefined ? `importing it did not finish within ${IMPORT_TIMEOUT_MS / 1000} s`
      : `importing it ended the process (${child.signal ?? `exit code ${String(child.status)}`})${lastLine(child.stderr)}`;
    checked.set(culprit, { error: `actor module ${culprit}: ${why}`, hint: 'a module should only define its actor when imported; run it on its own to see what it does' });
  }
  const issues: ConfigIssue[] = [];
  for (const p of pools) {
    const result = checked.get(p.actor);
    if (result?.error === undefined) continue;
    const path = ['pools', p.name, 'actor'];
    issues.push({
      code: 'ACTORRT_E_ACTOR_MODULE', message: `pools.${p.name}.actor: ${result.error}`, position: doc.locate(path), path: path.join('.'),
      ...(result.hint === undefined ? {} : { hint: result.hint }),
    });
  }
  return issues;
}

function lastLine(text: string | null): string {
  const line = (text ?? '').trim().split('\n').pop()?.trim();
  return line === undefined || line === '' ? '' : `: ${line}`;
}

/** `2 pools, 5 routes, 1 resource, 1 cache`. */
export function summarize(config: Config): string {
  const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [
    count(Object.keys(config.pools).length, 'pool'),
    count(config.routes.length, 'route'),
    count(Object.keys(config.resources).length, 'resource'),
    count(Object.keys(config.caches).length, 'cache'),
  ].join(', ');
}
