/**
 * Wall-clock time as the cache sees it: milliseconds since the epoch, as Date.now() gives. What
 * ages a stored reply (RFC 9111 section 4.2.3) and expires a memory store's entries reads this, so
 * that the test kit (actorrt/testing) can move time forward for cache TTLs without fake timers.
 * Timeouts and deadlines (how long to wait for something) stay on real time.
 */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const SYSTEM_CLOCK: Clock = Object.freeze({ now: () => Date.now() });
