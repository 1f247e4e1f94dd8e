import { setTimeout as sleep } from 'node:timers/promises';
import { ActorrtError } from '../errors.js';
import { PidFile } from '../primary/pid-file.js';
import { isStopAnswer, type StopAnswer } from '../primary/status.js';
import type { Command } from './command.js';
import { findInstance } from './instance.js';

/** The wait when the instance does not say how long its stop takes (and the least one ever gets). */
const DEFAULT_WAIT = 30_000;
/** Added to what the instance says its stop can take: the primary's own exit (the bus, the pid file). */
const MARGIN = 5000;
/** How long the admin `stop` may take to be answered before the instance is sent SIGTERM instead. */
const ASK_TIMEOUT = 3000;

export const stop: Command = {
  usage: 'stop [file] [--timeout MS]',
  summary: 'gracefully stop a running instance',
  help: `Stops the instance started from the topology file (default: actorrt.yml), as SIGTERM does:
it leaves its load balancers for http.shutdownDelay (readiness 503, still serving), then drains,
and this command waits until it has exited. The instance is asked over its admin socket, which
also tells how long the stop can take; when that socket does not answer, it is sent SIGTERM.

Options:
  --pid-file F   the pid file the instance was started with
  --timeout MS   how long to wait for it to exit, in milliseconds (default: what the instance says
                 its stop can take, http.shutdownDelay + twice http.shutdownTimeout and kill grace,
                 plus 5 s; at least 30000)`,
  options: { 'pid-file': { type: 'string' }, timeout: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'stop takes at most one topology file');
    const given = values['timeout'] === undefined ? undefined : Number(values['timeout']);
    if (given !== undefined && (!Number.isFinite(given) || given <= 0)) throw new ActorrtError('ACTORRT_E_USAGE', '--timeout must be a positive number of milliseconds');
    const instance = findInstance(values, positionals[0]);
    const { pid, pidFile: path } = instance;
    const answer = await askToStop(instance.ask);
    // A primary whose admin socket is gone or stuck still takes the signal (a second one would force it: this is the first from here).
    if (answer === undefined && PidFile.read(path) === pid) process.kill(pid, 'SIGTERM');
    const timeout = given ?? Math.max(DEFAULT_WAIT, answer === undefined ? 0 : answer.within + MARGIN);
    if (answer !== undefined && answer.leave > 0) {
      process.stdout.write(`leaving its load balancers for ${(answer.leave / 1000).toFixed(1)}s, then draining (pid ${pid})\n`);
    }
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (PidFile.read(path) !== pid) {
        process.stdout.write(`stopped (pid ${pid})\n`);
        return 0;
      }
      await sleep(100);
    }
    throw new ActorrtError('ACTORRT_E_NOT_RUNNING', `pid ${pid} is still running after ${timeout} ms`, { hint: `wait, or force it: kill -TERM ${pid} (a stop already asked for counts as the first signal)` });
  },
};

/** The instance's answer to `stop` (it has begun stopping), or undefined when it could not be asked. */
async function askToStop(ask: (cmd: string, args?: Readonly<Record<string, unknown>>, timeout?: number) => Promise<unknown>): Promise<StopAnswer | undefined> {
  try {
    const answer = await ask('stop', {}, ASK_TIMEOUT);
    return isStopAnswer(answer) ? answer : undefined; // an older primary answers "unknown admin command"
  } catch {
    return undefined;
  }
}
