import { open, stat } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import type { HeapProfiler, Profiler } from 'node:inspector';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProfileMessage } from '../protocol/messages.js';
import type { ProfileWritten } from '../protocol/shapes.js';
import { memoryNow, snapshotRefusal } from './memory.js';
import { cached, loadedModules, mapFrame } from './source-positions.js';
import { whileBlocking } from './stall-watch.js';

/**
 * `actorrt profile` inside a child process: node:inspector on this very thread (Session.connect,
 * never inspector.open: no port, no restart), the result written by this process to the path the
 * CLI chose. Positions in tsx-compiled actors are mapped back to their .ts lines before the file
 * is written (source-positions.ts), so DevTools, speedscope and the CLI's summary all name the
 * line a reader finds in the file.
 */

export type ProfileRequest = Omit<ProfileMessage, 'type' | 'id'>;

/** The profile under way in this process: the inspector has one profiler per process, and two snapshots at once would need twice the room. */
let running: ProfileRequest | undefined;

/** Take the profile `request` asks for and write it; resolves with the file written. Throws ActorrtError (PROFILE_BUSY, PROFILE_MEMORY, PROFILE_FAILED). */
export async function takeProfile(request: ProfileRequest, log: Logger): Promise<ProfileWritten> {
  if (running !== undefined) {
    throw new ActorrtError('ACTORRT_E_PROFILE_BUSY', `a ${running.kind} profile of this process is already being taken (into ${running.path})`,
      { hint: 'wait for it to finish, or profile another process of the target (--process)' });
  }
  running = request;
  log.info({ event: 'profile-started', kind: request.kind, duration: request.duration, path: request.path }, `taking a ${request.kind} profile`);
  try {
    switch (request.kind) {
      case 'cpu': await write(request.path, JSON.stringify(await cpuProfile(request.duration))); break;
      case 'heap': await write(request.path, JSON.stringify(await heapProfile(request.duration))); break;
      case 'heap-snapshot': await heapSnapshot(request); break;
    }
    const { size } = await stat(request.path);
    log.info({ event: 'profile-written', kind: request.kind, path: request.path, bytes: size }, `${request.kind} profile written`);
    return { path: request.path, bytes: size };
  } catch (err) {
    if (err instanceof ActorrtError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ActorrtError('ACTORRT_E_PROFILE_FAILED', `the ${request.kind} profile failed: ${code === undefined ? (err as Error).message : `${code} writing ${request.path}`}`,
      { cause: err, hint: code === undefined ? 'report it with this message' : 'write it into a folder this instance\'s user can write (--out)' });
  } finally {
    running = undefined;
  }
}

/** Sample the call stack for `duration` ms (V8's default interval, 1 ms is not changed: see docs/operations.md for its cost). */
async function cpuProfile(duration: number): Promise<Profiler.Profile> {
  const profile = await inspect(async (session) => {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    await sleep(duration, undefined, { ref: false });
    return (await session.post('Profiler.stop')).profile;
  });
  const lookup = cached(loadedModules);
  for (const node of profile.nodes) {
    const before = node.callFrame.lineNumber;
    mapFrame(node.callFrame, lookup);
    // Line ticks count lines of the compiled code: once the frame names the source, they would point elsewhere.
    if (node.callFrame.lineNumber !== before) delete node.positionTicks;
  }
  return profile;
}

/** Sample allocations for `duration` ms, those collected since included (what allocated most, not only what is still held). */
async function heapProfile(duration: number): Promise<HeapProfiler.SamplingHeapProfile> {
  const profile = await inspect(async (session) => {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as HeapProfiler.StartSamplingParameterType);
    await sleep(duration, undefined, { ref: false });
    return (await session.post('HeapProfiler.stopSampling')).profile;
  });
  const lookup = cached(loadedModules);
  const stack = [profile.head];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    mapFrame(node.callFrame, lookup);
    stack.push(...node.children);
  }
  return profile;
}

/**
 * A full snapshot, refused when the process lacks room for it (memory.ts), judged on its live heap
 * (a full collection first: the snapshot starts with one anyway). The stall thread is told the
 * block is on purpose.
 */
async function heapSnapshot(request: ProfileRequest): Promise<void> {
  await whileBlocking(async () => {
    await inspect((session) => session.post('HeapProfiler.collectGarbage'));
    const refusal = snapshotRefusal(memoryNow(request.maxRss), 'this process');
    if (refusal !== undefined) throw refusal;
    await write(request.path);
    writeHeapSnapshot(request.path);
  });
}

async function inspect<T>(work: (session: Session) => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  try {
    return await work(session);
  } finally {
    session.disconnect();
  }
}

/**
 * Write `text` to `path` (or only create it), readable by this user only: a profile holds function
 * names and source paths, and a heap snapshot every string in memory (tokens and passwords included).
 */
async function write(path: string, text = ''): Promise<void> {
  const file = await open(path, 'w', 0o600);
  try {
    await file.chmod(0o600); // it may have existed with a wider mode
    await file.writeFile(text);
  } finally {
    await file.close();
  }
}
