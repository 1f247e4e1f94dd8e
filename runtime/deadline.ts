/**
 * Wait for `work`, but at most `ms` milliseconds (drains, hang-ups, flushes: every bounded wait of
 * a shutdown or a retire). The timer never keeps the process alive and is cleared as soon as
 * `work` settles. Resolves when either comes first; a rejection of `work` passes through.
 */
export async function withDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `work`'s outcome, or, past `ms`, a rejection with `late()` (what was waited for, named for the
 * person reading it). Unlike withDeadline's, this timer keeps the process alive: someone waits for
 * the answer (a test on an init that never settles would otherwise end with nothing to run, its
 * wait cancelled instead of failed). It is cleared once either settles.
 */
export async function orFail<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
