import { ConfigError, formatIssue } from '../../config/errors.js';
import { ActorrtError } from '../errors.js';
import type { Command } from './command.js';
import { DEFAULT_TOPOLOGY } from './instance.js';

export const start: Command = {
  usage: 'start [file] [--port N] [--workers N] [--no-watch] [--detached] [--pretty]',
  summary: 'run the topology as a supervised service',
  help: `Runs file (default: ./actorrt.yml). Validates the topology, forks the front workers, and prints
"actorrt ready on http://HOST:PORT (N workers, M pools)" once every worker is ready.
SIGTERM / SIGINT (or actorrt stop) drain in-flight requests and exit 0; a second signal forces exit.
Saving the topology file reloads it live (see actorrt reload); so does SIGHUP.

Options:
  --port N       listen on N instead of http.port (0 picks a free port)
  --workers N    run N front workers instead of http.workers
  --pid-file F   where to record the primary's pid (default: .actorrt/<name>.pid beside the file)
  --no-watch     do not reload when the file is saved (SIGHUP and actorrt reload still do)
  --detached     keep serving when the process that started actorrt exits (nohup, a shell that
                 exits); by default the instance stops with it, so a SIGTERM to npx, npm start
                 or a wrapper script stops the instance too
  --pretty       human-readable log lines (pino-pretty) instead of JSON, in every process; the
                 default when stderr is a terminal (ACTORRT_LOG_FORMAT=json|pretty decides otherwise)`,
  options: {
    port: { type: 'string' }, workers: { type: 'string' }, 'pid-file': { type: 'string' }, 'no-watch': { type: 'boolean' }, detached: { type: 'boolean' },
    pretty: { type: 'boolean' },
  },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'start takes at most one topology file (default: ./actorrt.yml)');
    const file = positionals[0] ?? DEFAULT_TOPOLOGY;
    const port = integer(values['port'], '--port', 0, 65535);
    const workers = integer(values['workers'], '--workers', 1, 256);
    const pidFile = typeof values['pid-file'] === 'string' ? values['pid-file'] : undefined;
    // Through the environment (logger.ts LOG_FORMAT; not imported here, so other commands do not load pino):
    // every process the primary forks inherits it and builds its logger alike.
    if (values['pretty'] === true) process.env['ACTORRT_LOG_FORMAT'] = 'pretty';
    try {
      // Loaded here, not at the top: every other command would pay for the whole runtime.
      const { runPrimary } = await import('../primary/primary.js');
      return await runPrimary(file, {
        ...(port === undefined ? {} : { port }),
        ...(workers === undefined ? {} : { workers }),
        ...(pidFile === undefined ? {} : { pidFile }),
        watch: values['no-watch'] !== true,
        detached: values['detached'] === true,
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      return 1;
    }
  },
};

function integer(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || n > max) {
    throw new ActorrtError('ACTORRT_E_USAGE', `${name} must be a whole number from ${min} to ${max}; got ${String(value)}`);
  }
  return n;
}
