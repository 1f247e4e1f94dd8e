import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';

/** Growth stops while the memory available is under this share of the memory there is (host, or the container's limit). */
export const HOST_RESERVE = 0.1;
/** Growth stops while a process running the pool is over this share of its memory bound (maxRss, http.maxRss). */
export const PROCESS_SHARE = 0.9;

/** Bytes available and in all, as the kernel sees them for this process. */
export interface MemoryReading {
  readonly available: number;
  readonly total: number;
  /** `host` or `container` (a cgroup v2 memory.max below the host's memory). */
  readonly scope: 'host' | 'container';
}

/**
 * What the host and, inside a container, the cgroup leave: os.freemem() (MemAvailable: libuv reads
 * it since 1.45, Node 20 has 1.46) and, when cgroup v2's memory.max is below the host's memory,
 * memory.max minus memory.current (a container is killed at its limit whatever the host has).
 * `root` is the cgroup mount (tests pass a folder of their own).
 */
export function readMemory(root = '/sys/fs/cgroup'): MemoryReading {
  const host = { available: freemem(), total: totalmem(), scope: 'host' as const };
  const limit = Number(read(join(root, 'memory.max')));
  const used = Number(read(join(root, 'memory.current')));
  if (!Number.isFinite(limit) || limit <= 0 || limit >= host.total || !Number.isFinite(used)) return host;
  return { available: Math.min(host.available, Math.max(0, limit - used)), total: limit, scope: 'container' };
}

/**
 * Why growth must wait for memory, or undefined: the host (or container) has less than
 * HOST_RESERVE of its memory available, or a process that would hold the new actors is past
 * PROCESS_SHARE of its bound (it would be recycled soon, and more actors only bring that closer).
 */
export function memoryShort(reading: MemoryReading, processes: ReadonlyArray<{ readonly name: string; readonly rss: number | undefined; readonly bound: number | undefined }>): string | undefined {
  if (reading.available < reading.total * HOST_RESERVE) {
    return `the ${reading.scope} has ${mib(reading.available)} MiB available, under ${HOST_RESERVE * 100} % of ${mib(reading.total)} MiB`;
  }
  for (const p of processes) {
    if (p.rss !== undefined && p.bound !== undefined && p.rss > p.bound * PROCESS_SHARE) {
      return `${p.name} uses ${mib(p.rss)} MiB, over ${PROCESS_SHARE * 100} % of its ${mib(p.bound)} MiB bound`;
    }
  }
  return undefined;
}

function mib(bytes: number): number {
  return Math.round(bytes / 1048576);
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
