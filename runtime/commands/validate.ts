import { validateDocument } from '../../config/validate.js';
import { loadFile } from '../../config/load.js';
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
  --json    print the errors as a JSON array (empty when the file is valid)`,
  options: { json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'validate takes at most one topology file (default: ./actorrt.yml)');
    const file = positionals[0] ?? DEFAULT_TOPOLOGY;
    const json = values['json'] === true;
    let issues: readonly ConfigIssue[];
    let config: Config | undefined;
    try {
      const result = validateDocument(loadFile(file));
      issues = result.ok ? [] : result.issues;
      config = result.ok ? result.config : undefined;
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
