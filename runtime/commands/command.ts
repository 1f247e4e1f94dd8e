import type { ParseArgsConfig } from 'node:util';

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** One `actorrt <name>` command. */
export interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly help: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(values: OptionValues, positionals: readonly string[]): Promise<number>;
}
