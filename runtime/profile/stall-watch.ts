import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import { HEARTBEAT_MS } from '../protocol/messages.js';

/**
 * The main thread's side of a child's stall thread (stall-thread.ts). The main thread bumps a
 * counter in shared memory a few times per threshold; the thread watches it, and when it stops
 * moving for `threshold` ms it pauses the main thread through the inspector and writes where it
 * was stuck, before the primary's watchdog kills the process (see stall.ts).
 *
 * Cost when nothing is stuck: one timer per process on each side, an Atomics store and load
 * (measured over 10 s of an idle front worker, see docs/operations.md), plus the thread's own
 * isolate (about 9 MiB of resident memory). No inspector session exists until a stall.
 */

/** Slots of the shared Int32Array; `sleep` is never written: the thread waits on it to sleep. */
export const SLOT = { beat: 0, threshold: 1, excused: 2, watchdog: 3, sleep: 4 } as const;
const SLOTS = 5;

/** Never take frames sooner than this (a GC pause or a long JSON.parse is not a stall). */
const MIN_THRESHOLD_MS = 250;
/** Past this the frames are already telling; later would only risk missing a watchdog set long. */
const MAX_THRESHOLD_MS = 5000;

/**
 * When the thread takes the frames, for a process held to `watchdog` ms (> 0): halfway to the
 * earliest kill. The primary counts silence from the last heartbeat it received, which may be up to
 * HEARTBEAT_MS older than the stall, so it may kill as soon as `watchdog - HEARTBEAT_MS` after it.
 */
export function stallThreshold(watchdog: number): number {
  return Math.min(MAX_THRESHOLD_MS, Math.max(MIN_THRESHOLD_MS, Math.floor((watchdog - HEARTBEAT_MS) / 2)));
}

/** How often the main thread bumps the counter (and the thread looks at it): a fifth of the threshold. */
export function beatInterval(threshold: number): number {
  return Math.max(50, Math.floor(threshold / 5));
}

/** What the thread is started with (checked there). */
export interface StallThreadData {
  readonly shared: SharedArrayBuffer;
  /** Where it writes the stall file (stall.ts). */
  readonly file: string;
  /** The topology's folder: frames are logged relative to it. */
  readonly base: string;
  readonly role: 'worker' | 'pool';
  /** Fields its log lines carry (`pool`, `index`). */
  readonly fields: Readonly<Record<string, string | number>>;
}

let current: StallWatch | undefined;

/**
 * Run `work`, which blocks the event loop on purpose (a heap snapshot), without the stall thread
 * taking it for a stall.
 */
export async function whileBlocking<T>(work: () => T | Promise<T>): Promise<T> {
  const watch = current;
  watch?.excuse(1);
  try {
    return await work();
  } finally {
    watch?.excuse(-1);
  }
}

export class StallWatch {
  private readonly shared = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private interval = 0;

  /** Watch this process, held to `watchdog` ms; the thread starts once there is a watchdog (none while it is off: nothing would kill the process). */
  constructor(private readonly data: Omit<StallThreadData, 'shared'>, watchdog: number, private readonly log: Logger) {
    current = this;
    this.configure(watchdog);
  }

  /** Take a new watchdog bound (a reload); 0 leaves a running thread idle. */
  configure(watchdog: number): void {
    const threshold = watchdog > 0 ? stallThreshold(watchdog) : 0x7fffffff;
    Atomics.store(this.shared, SLOT.threshold, threshold);
    Atomics.store(this.shared, SLOT.watchdog, Math.min(watchdog, 0x7fffffff));
    if (watchdog > 0 && this.worker === undefined) this.worker = this.spawn();
    const interval = beatInterval(Math.min(threshold, MAX_THRESHOLD_MS));
    if (interval === this.interval) return;
    this.interval = interval;
    clearInterval(this.timer);
    this.timer = setInterval(() => Atomics.add(this.shared, SLOT.beat, 1), interval);
    this.timer.unref();
  }

  excuse(delta: 1 | -1): void {
    Atomics.add(this.shared, SLOT.excused, delta);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (current === this) current = undefined;
    await this.worker?.terminate();
  }

  private spawn(): Worker {
    const workerData: StallThreadData = { ...this.data, shared: this.shared.buffer as SharedArrayBuffer };
    // No execArgv: an --import hook of the process (a loader) has no business in this thread.
    // The heap cap bounds what a flood of scriptParsed events (a large app) may cost it.
    const worker = new Worker(new URL('./stall-thread.js', import.meta.url), { workerData, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: 64 } });
    worker.unref();
    // Without a listener, an error in the thread would be thrown in this one: it is reported and the process serves on without it.
    worker.on('error', (err) => this.log.error({ err, event: 'stall-thread-failed' }, 'the stall thread failed; stalls of this process will be reported without where they were stuck'));
    return worker;
  }
}
