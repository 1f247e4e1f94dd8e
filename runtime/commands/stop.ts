import { setTimeout as sleep } from 'node:timers/promises';
import { ActorrtError } from '../errors.js';
import { PidFile } from '../primary/pid-file.js';
import type { Command } from './command.js';
import { findInstance } from './instance.js';

export const stop: Command = {
  usage: 'stop [file] [--timeout MS]',
  summary: 'gracefully stop a running instance',
  help: `Sends SIGTERM to the instance started from the topology file (default: actorrt.yml) and waits
until it has drained and exited.

Options:
  --pid-file F   the pid file the instance was started with
  --timeout MS   how long to wait for it to exit, in milliseconds (default 30000)`,
  options: { 'pid-file': { type: 'string' }, timeout: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'stop takes at most one topology file');
    const timeout = values['timeout'] === undefined ? 30_000 : Number(values['timeout']);
    if (!Number.isFinite(timeout) || timeout <= 0) throw new ActorrtError('ACTORRT_E_USAGE', '--timeout must be a positive number of milliseconds');
    const { pid, pidFile: path } = findInstance(values, positionals[0]);
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (PidFile.read(path) !== pid) {
        process.stdout.write(`stopped (pid ${pid})\n`);
        return 0;
      }
      await sleep(100);
    }
    throw new ActorrtError('ACTORRT_E_NOT_RUNNING', `pid ${pid} is still running after ${timeout} ms`, { hint: 'send a second SIGTERM to force it' });
  },
};
