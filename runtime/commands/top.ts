import { parseDuration } from '../../config/units.js';
import { ActorrtError } from '../errors.js';
import type { Command } from './command.js';
import { findInstance } from './instance.js';

/** The shortest --interval: each sample is a scrape of every process (up to 250 ms for a silent one). */
const MIN_INTERVAL_MS = 100;
/**
 * How long one sample may take before the primary counts as not answering. Short, because a quit
 * waits for a sample in flight to settle before the process can exit (a scrape takes 250 ms at most).
 */
const SAMPLE_WAIT_MS = 3000;


export const top: Command = {
  usage: 'top [file] [--once] [--interval 1s]',
  summary: 'a live view of pools (req/s, latency, errors), processes (CPU, memory, lag) and caches',
  help: `Shows the instance started from the topology file (default: actorrt.yml), refreshed every
interval from the same numbers as its /metrics and \`actorrt status\`:
  pools      req/s, errors/s (5xx), p50 / p99 latency over the last interval (interpolated within
             the histogram's buckets as Prometheus' histogram_quantile does), in flight, queued,
             restarts, size and processes; proxy routes by upstream, and (front) for what the
             front workers answered themselves (health, 404s)
  processes  role, pool, index, pid, CPU %, resident memory, event-loop lag p99, up or not answering
  caches     hit rate over the interval and since start, lookups/s, entries
and the last reload. Keys: q or Ctrl-C quits; c, m, p, l sort the processes by CPU, memory, pid or
event-loop lag; r, e, n sort the pools by req/s, errors/s or topology order. When stdout is not a
terminal, a plain frame is printed each interval instead. Exits 1 if the instance stops meanwhile.

Options:
  --once         print one plain frame (two samples an interval apart, so rates are real) and exit
  --interval D   time between samples (default 1s; at least ${MIN_INTERVAL_MS}ms)
  --pid-file F   the pid file the instance was started with`,
  options: { once: { type: 'boolean' }, interval: { type: 'string' }, 'pid-file': { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'top takes at most one topology file');
    const raw = typeof values['interval'] === 'string' ? values['interval'] : '1s';
    const interval = parseDuration(raw);
    if (interval === undefined || interval < MIN_INTERVAL_MS) {
      throw new ActorrtError('ACTORRT_E_USAGE', `--interval ${raw} is not a duration of at least ${MIN_INTERVAL_MS}ms (write 500ms, 1s, 5s)`);
    }
    const instance = findInstance(values, positionals[0]);
    const ask = (cmd: string): Promise<unknown> => instance.ask(cmd, {}, SAMPLE_WAIT_MS);
    const { Watch } = await import('../top/watch.js');
    const watch = new Watch(ask, interval, instance.pid);
    if (values['once'] === true) return watch.once();
    return watch.run(process.stdout.isTTY === true);
  },
};
