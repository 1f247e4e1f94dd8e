import { freemem, totalmem } from 'node:os';
import { ActorrtError } from '../errors.js';

/**
 * Whether a process has room for a full heap snapshot. V8 builds the snapshot's graph beside the
 * heap it describes, with the process blocked meanwhile, and a process pushed past its memory
 * limit by it is killed (the OOM killer) or replaced (maxRss), losing the snapshot. node's
 * documentation of v8.writeHeapSnapshot puts the need at about twice the heap; measured here
 * (node 20, resident memory after v8.writeHeapSnapshot minus before, over the used heap), it
 * grows with the number of live objects rather than their bytes: 0.2x for one large array, 4.3x
 * for a process with undici, pino and nact loaded (11 MiB used), 7.4x for a bare node (4 MiB),
 * 12x and 14x for heaps of 200,000 to 900,000 small objects (42 and 78 MiB used: +500 MiB and
 * +1.1 GiB). A leaking process, the one worth a snapshot, is the last kind, so the rule takes the
 * worst measured, with a margin: 16 times the live heap (measured right after a full collection).
 */
export const SNAPSHOT_FACTOR = 16;

/** What the rule reads, in bytes. */
export interface MemoryNow {
  /** V8 heap in use now (`process.memoryUsage().heapUsed`), right after a full collection: the live heap. */
  readonly heapUsed: number;
  readonly rss: number;
  /** The process's maxRss (http.maxRss / pools.X.maxRss), when set. */
  readonly maxRss?: number;
  /** The cgroup memory limit over this process (v1 or v2, nested ones included, as libuv reads it), when there is one, and what is left below it. */
  readonly cgroup?: { readonly limit: number; readonly available: number };
  /** Free memory of the machine (`os.freemem()`: MemAvailable on Linux). */
  readonly free: number;
}

/** This process's figures now. */
export function memoryNow(maxRss: number | undefined): MemoryNow {
  const { heapUsed, rss } = process.memoryUsage();
  const limit = process.constrainedMemory();
  // libuv answers 0 when it finds no cgroup limit, and the limit's "max" (2^64 - 1 or near) when it is unlimited.
  const cgroup = limit > 0 && limit < totalmem() ? { limit, available: process.availableMemory() } : undefined;
  return { heapUsed, rss, free: freemem(), ...(maxRss === undefined ? {} : { maxRss }), ...(cgroup === undefined ? {} : { cgroup }) };
}

/** The snapshot's estimated need, in bytes (see SNAPSHOT_FACTOR). */
export function snapshotNeed(m: MemoryNow): number {
  return SNAPSHOT_FACTOR * m.heapUsed;
}

/**
 * ACTORRT_E_PROFILE_MEMORY naming every figure when any room (below maxRss, below the cgroup
 * limit, free on the machine) is smaller than the snapshot's need; undefined when all have it.
 * `who` names the process (`this process`: the primary puts its name and pid in front).
 */
export function snapshotRefusal(m: MemoryNow, who: string): ActorrtError | undefined {
  const need = snapshotNeed(m);
  const rooms: Array<{ room: number; text: string }> = [];
  if (m.maxRss !== undefined) rooms.push({ room: m.maxRss - m.rss, text: `${mib(m.maxRss - m.rss)} below its maxRss (${mib(m.maxRss)}, rss ${mib(m.rss)})` });
  if (m.cgroup !== undefined) rooms.push({ room: m.cgroup.available, text: `${mib(m.cgroup.available)} below its cgroup memory limit (${mib(m.cgroup.limit)})` });
  rooms.push({ room: m.free, text: `${mib(m.free)} free on the machine` });
  if (rooms.every((r) => r.room >= need)) return undefined;
  return new ActorrtError('ACTORRT_E_PROFILE_MEMORY',
    `a heap snapshot of ${who} needs about ${mib(need)} (${SNAPSHOT_FACTOR} times its live heap of ${mib(m.heapUsed)}, as measured for heaps of small objects) and it has ${rooms.map((r) => r.text).join(', ')}`,
    { hint: 'take a sampling heap profile instead (--heap: no extra memory, the process is not blocked), or raise maxRss / the memory limit' });
}

function mib(bytes: number): string {
  const b = Math.max(0, bytes);
  if (b >= 10 * 1073741824) return `${(b / 1073741824).toFixed(1)} GiB`;
  return `${(b / 1048576).toFixed(b < 10 * 1048576 ? 1 : 0)} MiB`;
}
