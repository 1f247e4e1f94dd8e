import type { ActorrtError } from '../errors.js';
import type { PrimaryMessage } from '../protocol/messages.js';
import type { Vitals } from '../supervision/liveness.js';

/*
 * A supervised child process as the primary describes and sees it. The supervisor
 * (supervisor.ts) is the only writer of these records; everyone else reads them through the
 * read-only shapes below and asks the supervisor to change them.
 */

/** What to run as one child: which group it belongs to and how to start it. */
export interface ChildSpec {
  /** `~front` for front workers, else the isolated pool's name; restarts are counted per group. */
  readonly group: string;
  /** Unique for the life of the instance (socket names use it); kept across restarts. */
  readonly id: number;
  /** Its number within its group, never reused (status shows it). */
  readonly index: number;
  /** As status and logs name it: `worker 2`, `thumbs process 5`. */
  readonly name: string;
  /** What logs call a child of its kind. */
  readonly kind: 'worker' | 'pool process';
  readonly entry: string;
  /** Where this child serves its pools to peers (kept across restarts, so peers' channels reconnect). */
  readonly socket: string;
  /** Descriptors handed to the child from fd 4 on (front workers: the listening socket). */
  readonly fds: readonly number[];
  /** Fields every log line about this child carries. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** The start message, built when the child has booted (so it carries the topology in force then), and the topology generation it carries. */
  start(): { readonly message: PrimaryMessage; readonly generation: number };
}

/**
 * starting: forked, not ready yet; up: ready; restarting: exited, a restart is scheduled;
 * retiring: taken out of routing, told (or about to be told) to drain and exit.
 */
export type ChildState = 'starting' | 'up' | 'restarting' | 'retiring';

/** One supervised child process, as everyone but the supervisor sees it: read only. */
export interface Child {
  readonly spec: ChildSpec;
  readonly state: ChildState;
  /** Ready at least once: its socket is published to peers from then on. */
  readonly listed: boolean;
  /** Topology generation it was last given (start or reconfigure). */
  readonly generation: number;
  /** What its heartbeats said (the watchdog reads it). */
  readonly vitals: Vitals;
  /** The running process's pid (none while it waits for a restart). */
  readonly pid: number | undefined;
  /** A call that blocks its event loop on purpose is under way (a heap snapshot): the watchdog leaves it alone. */
  readonly excused: boolean;
}

/** Restart intensity per group, and what it led to, as everyone but the supervisor sees it. */
export interface GroupRecord {
  /** When each restart in the current window happened (ms since the epoch). */
  readonly history: readonly number[];
  /** Restarts since start (the window above forgets). */
  readonly restarts: number;
  readonly lastError: string | undefined;
  /** The last start-up failure a child of this group reported, with its code. */
  readonly lastFailure: ActorrtError | undefined;
  /** Set once the group was given up, with why. */
  readonly down: string | undefined;
  /** Children of this group that exited before their first ready, since one last became ready. */
  readonly failedStarts: number;
}
