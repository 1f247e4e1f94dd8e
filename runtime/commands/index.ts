import { init } from './init.js';
import { profile } from './profile.js';
import { reload } from './reload.js';
import { scale } from './scale.js';
import { start } from './start.js';
import { status } from './status.js';
import { stop } from './stop.js';
import { top } from './top.js';
import { validate } from './validate.js';
import type { Command } from './command.js';

export type { Command, OptionValues } from './command.js';

/** Every command the CLI knows, by name. */
export const COMMANDS: Readonly<Record<string, Command>> = { start, stop, status, top, reload, scale, profile, validate, init };
