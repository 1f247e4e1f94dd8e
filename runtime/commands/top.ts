import { parseDuration } from '../../config/units.js';
import { ActorrtError } from '../errors.js';
import { computeView, type TopView } from '../top/rates.js';
import { plainText, render, type PoolSort, type ProcessSort, type RenderOptions } from '../top/render.js';
import { takeSample, type Sample } from '../top/sample.js';
import { openScreen, type Key, type Screen } from '../top/terminal.js';
import type { Command } from './command.js';
import { findInstance } from './instance.js';

/** The shortest --interval: each sample is a scrape of every process (up to 250 ms for a silent one). */
const MIN_INTERVAL_MS = 100;
/**
 * How long one sample may take before the primary counts as not answering. Short, because a quit
 * waits for a sample in flight to settle before the process can exit (a scrape takes 250 ms at most).
 */
const SAMPLE_WAIT_MS = 3000;

const PROCESS_KEYS: Readonly<Record<string, ProcessSort>> = { c: 'cpu', m: 'memory', p: 'pid', l: 'lag' };
const POOL_KEYS: Readonly<Record<string, PoolSort>> = { n: 'name', r: 'rate', e: 'errors' };

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
    const watch = new Watch(ask, interval, instance.pid);
    if (values['once'] === true) return watch.once();
    return watch.run(process.stdout.isTTY === true);
  },
};

/** The sampling loop: one sample per interval, one frame per sample. */
class Watch {
  private readonly stop = new AbortController();
  private readonly quitting = new Promise<undefined>((resolve) => this.stop.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  private processSort: ProcessSort = 'cpu';
  private poolSort: PoolSort = 'name';
  private view: TopView | undefined;
  private notice: string | undefined;
  private screen: Screen | undefined;

  constructor(private readonly ask: (cmd: string) => Promise<unknown>, private readonly interval: number, private readonly pid: number) {}

  async once(): Promise<number> {
    const first = await takeSample(this.ask);
    await pause(this.interval, this.stop.signal);
    this.view = computeView(first, await takeSample(this.ask));
    process.stdout.write(`${this.frame(false)}\n`);
    return 0;
  }

  /** Until q, Ctrl-C or SIGTERM: 0; the instance stopping meanwhile throws ACTORRT_E_NOT_RUNNING (exit 1), the terminal given back first. */
  async run(tty: boolean): Promise<number> {
    const quit = (): void => this.stop.abort();
    process.on('SIGINT', quit);
    process.on('SIGTERM', quit);
    // `actorrt top | head`: the reader left (EPIPE), which ends the watch like a quit.
    process.stdout.on('error', quit);
    try {
      // Taken before the screen opens: an instance that is not running fails as for `status`.
      let prev = await takeSample(this.ask);
      if (tty) {
        this.screen = openScreen(process.stdout, process.stdin, (key) => this.key(key), () => this.draw());
        this.view = computeView(undefined, prev);
        this.draw();
      }
      for (let started = prev.at; ;) {
        await pause(this.interval - (performance.now() - started), this.stop.signal);
        if (this.stop.signal.aborted) return 0;
        started = performance.now();
        const cur = await this.sample();
        if (this.stop.signal.aborted) return 0;
        if (cur === undefined) continue;
        this.view = computeView(prev, cur);
        prev = cur;
        if (this.screen !== undefined) this.draw();
        else process.stdout.write(`${this.frame(false)}\n\n`);
      }
    } finally {
      this.screen?.close();
      process.off('SIGINT', quit);
      process.off('SIGTERM', quit);
      process.stdout.off('error', quit);
    }
  }

  /** The next sample, or undefined while the primary does not answer (said on screen; the next interval tries again). */
  private async sample(): Promise<Sample | undefined> {
    try {
      const taking = takeSample(this.ask);
      // A quit does not wait for a sample in flight (a paused primary holds it for SAMPLE_WAIT_MS): its outcome is dropped.
      taking.catch(() => undefined);
      const sample = await Promise.race([taking, this.quitting]);
      this.notice = undefined;
      return sample;
    } catch (err) {
      if (!(err instanceof ActorrtError)) throw err;
      if (err.code === 'ACTORRT_E_NOT_RUNNING') {
        throw new ActorrtError('ACTORRT_E_NOT_RUNNING', `the instance (pid ${this.pid}) stopped while top was watching it: ${err.message}`,
          { hint: 'start it again, then run actorrt top again' });
      }
      if (err.code !== 'ACTORRT_E_ADMIN_UNAVAILABLE') throw err;
      this.notice = `! ${err.message}; trying again every ${this.interval} ms`;
      if (this.screen !== undefined) this.draw();
      else process.stderr.write(`actorrt top: ${this.notice}\n`);
      return undefined;
    }
  }

  private key(key: Key): void {
    if (key.name === 'q' || (key.ctrl && key.name === 'c')) {
      this.stop.abort();
      return;
    }
    if (key.ctrl || key.name === undefined) return;
    const processSort = PROCESS_KEYS[key.name];
    const poolSort = POOL_KEYS[key.name];
    if (processSort !== undefined) this.processSort = processSort;
    if (poolSort !== undefined) this.poolSort = poolSort;
    if (processSort !== undefined || poolSort !== undefined) this.draw();
  }

  private draw(): void {
    if (this.screen === undefined || this.view === undefined || this.stop.signal.aborted) return;
    this.screen.draw(render(this.view, this.options(true, this.screen.size())));
  }

  private frame(keys: boolean): string {
    return this.view === undefined ? '' : plainText(render(this.view, this.options(keys, { width: Infinity, height: Infinity })));
  }

  private options(keys: boolean, size: { width: number; height: number }): RenderOptions {
    return { ...size, processSort: this.processSort, poolSort: this.poolSort, keys, ...(this.notice === undefined ? {} : { notice: this.notice }) };
  }
}

/** Wait `ms` (nothing when <= 0), or until `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
