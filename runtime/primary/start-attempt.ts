import type { ActorrtError } from '../errors.js';
import type { ShutdownMessage } from '../protocol/messages.js';

/** What a child that must not start after all is told (again, if it missed the first one). */
export const STOP_NOW: ShutdownMessage = { type: 'shutdown', timeout: 0, mode: 'stop' };

/**
 * One start of a child process, from fork to ready: its ready promise is settled exactly once,
 * whatever comes first (ready, an exit, a stop before ready), so a reload awaiting a child that
 * was terminated meanwhile never waits forever.
 */
export class StartAttempt {
  settled = false;
  /** What the child reported when its start-up failed (it exits next). */
  failure: ActorrtError | undefined;
  deadline: NodeJS.Timeout | undefined;

  constructor(private readonly onReady: () => void, private readonly onFailed: (err: Error) => void, readonly retryStart: boolean) {}

  resolve(): void {
    if (this.settled) return;
    this.settled = true;
    this.onReady();
  }

  reject(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.onFailed(err);
  }

  clearDeadline(): void {
    clearTimeout(this.deadline);
  }
}
