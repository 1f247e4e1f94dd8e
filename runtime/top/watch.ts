import { ActorrtError } from '../errors.js';
import { computeView, type TopView } from './rates.js';
import { plainText, render, type PoolSort, type ProcessSort, type RenderOptions } from './render.js';
import { takeSample, type Sample } from './sample.js';
import { openScreen, type Key, type Screen } from './terminal.js';

/*
 * `actorrt top`'s sampling loop, in a module of its own: the CLI loads it only when top runs, so
 * that every other command (start first: the primary runs in the CLI's process) does not load
 * log-update, ansi-escapes and cli-truncate (measured: ~50 ms of CPU at every start).
 */

const PROCESS_KEYS: Readonly<Record<string, ProcessSort>> = { c: 'cpu', m: 'memory', p: 'pid', l: 'lag' };
const POOL_KEYS: Readonly<Record<string, PoolSort>> = { n: 'name', r: 'rate', e: 'errors' };

/** The sampling loop: one sample per interval, one frame per sample. */
export class Watch {
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
