import type { ParseArgsConfig } from 'node:util';
import { init } from './init.js';
import { reload } from './reload.js';
import { scale } from './scale.js';
import { start } from './start.js';
import { status } from './status.js';
import { stop } from './stop.js';
import { validate } from './validate.js';

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** One `actorrt <name>` command. */
export interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly help: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(values: OptionValues, positionals: readonly string[]): Promise<number>;
}

/** Every command the CLI knows, by name. */
export const COMMANDS: Readonly<Record<string, Command>> = { start, stop, status, reload, scale, validate, init };
