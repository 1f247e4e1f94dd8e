#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../config/hints.js';
import { ActorrtError } from './errors.js';
import { COMMANDS, type Command } from './commands/index.js';
import { VERSION } from './version.js';


/** The command column is as wide as the longest usage, plus two spaces. */
const USAGE_WIDTH = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 2;

const USAGE = `actorrt ${VERSION}: a YAML topology turned into a supervised, multi-process HTTP service

Usage: actorrt <command> [options]

Commands:
${Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(USAGE_WIDTH)}${c.summary}`).join('\n')}

Options:
  -h, --help      show help (also: actorrt <command> --help)
  -v, --version   print the version

Exit codes: 0 ok, 1 failure (e.g. an invalid topology), 2 usage error.`;

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...others] = argv;
  // `actorrt help start` is `actorrt start --help`.
  const helpFor = first === 'help' && others[0] !== undefined && Object.hasOwn(COMMANDS, others[0]) ? others[0] : undefined;
  const [name, ...rest] = helpFor === undefined ? argv : [helpFor, '--help'];
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  // Own keys only: `actorrt constructor` is an unknown command, not Object.prototype's.
  const command: Command | undefined = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    const hint = didYouMean(name, Object.keys(COMMANDS));
    return usageError(`unknown command "${name}"${hint === undefined ? '' : `; ${hint}`}`);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const options = { ...command.options, help: { type: 'boolean', short: 'h' } } satisfies ParseArgsConfig['options'];
    parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (err) {
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec((err as Error).message)?.[1];
    if (unknown !== undefined) {
      const hint = didYouMean(unknown.replace(/^-+/, ''), [...Object.keys(command.options), 'help']);
      return usageError(`unknown option ${unknown} for ${name}${hint === undefined ? '' : `; ${hint}`}`);
    }
    return usageError(`${(err as Error).message} (see actorrt ${name} --help)`);
  }
  if (parsed.values['help'] === true) {
    process.stdout.write(`Usage: actorrt ${command.usage}\n\n${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(parsed.values, parsed.positionals);
  } catch (err) {
    if (err instanceof ActorrtError && parsed.values['json'] === true) {
      // A script that asked for JSON gets JSON on failure too (the message also goes to stderr).
      process.stdout.write(`${JSON.stringify({ ok: false, error: { code: err.code, message: err.message, ...(err.hint === undefined ? {} : { hint: err.hint }) } }, null, 2)}\n`);
    }
    if (err instanceof ActorrtError && err.code === 'ACTORRT_E_USAGE') return usageError(`${err.message} (see actorrt ${name} --help)`);
    if (err instanceof ActorrtError) {
      process.stderr.write(`actorrt: ${err.code}  ${err.message}${err.hint === undefined ? '' : `  (${err.hint})`}\n`);
      return 1;
    }
    // Not a user mistake: keep the stack so the report is actionable.
    process.stderr.write(`actorrt: internal error, please report it with this output:\n${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

function usageError(message: string): number {
  process.stderr.write(`actorrt: ACTORRT_E_USAGE  ${message}\n`);
  return 2;
}

// A reader that closes the pipe early (`actorrt scale api=8 | head -1`) is not a failure of the
// command: what it still writes is dropped (an unhandled EPIPE used to crash the CLI after the
// command had done its work; a primary started as `actorrt start | head -1` must keep serving).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`actorrt: internal error: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
