import { join, resolve } from 'node:path';
import { ActorrtError } from '../errors.js';
import { adminRequest } from '../primary/admin.js';
import { PidFile } from '../primary/pid-file.js';
import { checkPrivate } from '../primary/runtime-dir.js';
import type { OptionValues } from './command.js';

/** A running instance as the commands that talk to it find it: from its topology file (default ./actorrt.yml) or --pid-file. */
export interface RunningInstance {
  readonly pid: number;
  readonly pidFile: string;
  /** Ask its primary over the admin socket. */
  ask(cmd: string, args?: Readonly<Record<string, unknown>>, timeout?: number): Promise<unknown>;
}

/** The topology every command uses when none is named: `actorrt.yml` in the current folder. */
export const DEFAULT_TOPOLOGY = 'actorrt.yml';

/** The topology file a command names (first positional), resolved; `actorrt.yml` when none is given. */
export function topologyFile(file: string | undefined): string {
  return resolve(file ?? DEFAULT_TOPOLOGY);
}

/** Find the running instance for `file` (or --pid-file); throws ACTORRT_E_NOT_RUNNING when there is none. */
export function findInstance(values: OptionValues, file: string | undefined): RunningInstance {
  const pidFile = typeof values['pid-file'] === 'string' ? values['pid-file'] : PidFile.defaultPath(topologyFile(file));
  const entry = PidFile.readEntry(pidFile);
  if (entry === undefined) {
    throw new ActorrtError('ACTORRT_E_NOT_RUNNING', `no running instance recorded in ${pidFile}`, { hint: 'pass the topology file it was started with, or --pid-file' });
  }
  const { runtimeDir } = entry;
  if (runtimeDir !== undefined) {
    try {
      checkPrivate(runtimeDir);
    } catch (err) {
      // Its folder is gone: the primary was killed and the pid may be another process's by now.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ActorrtError('ACTORRT_E_NOT_RUNNING', `the instance recorded in ${pidFile} (pid ${entry.pid}) is gone; the pid file is stale`,
          { hint: `remove ${pidFile}` });
      }
      throw err;
    }
  }
  return {
    pid: entry.pid, pidFile,
    ask: (cmd, args = {}, timeout = 5000) => (runtimeDir === undefined
      ? Promise.reject(new ActorrtError('ACTORRT_E_NOT_RUNNING', `pid ${entry.pid} in ${pidFile} was started by an actorrt without an admin socket`, { hint: 'restart it with this version' }))
      : adminRequest(join(runtimeDir, 'admin.sock'), cmd, args, timeout, `the primary (pid ${entry.pid})`)),
  };
}
