import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/**
 * The CPUs this process may use: the scheduler's count (os.availableParallelism) capped by the
 * container's CPU quota. `workers: auto` forks one front worker per CPU, and Node 20's libuv
 * (1.46) counts the node's CPUs whatever the cgroup allows: a pod limited to 2 CPUs on a 64-core
 * node would fork 64 workers, each throttled. Read from cgroup v2 `cpu.max` ("200000 100000":
 * quota and period in microseconds; "max ...": no quota), else cgroup v1's cfs files; a quota of
 * 1.5 CPUs counts as 2. `root` is the cgroup mount (tests pass a folder of their own).
 */
export function usableCpus(root = '/sys/fs/cgroup'): number {
  const cpus = availableParallelism();
  const quota = cpuQuota(root);
  return quota === undefined ? cpus : Math.max(1, Math.min(cpus, Math.ceil(quota)));
}

/** The CPU quota in CPUs, or undefined when there is none (or no cgroup file to say). */
export function cpuQuota(root: string): number | undefined {
  const v2 = read(join(root, 'cpu.max'));
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return ratio(quota, period);
  }
  return ratio(read(join(root, 'cpu', 'cpu.cfs_quota_us')), read(join(root, 'cpu', 'cpu.cfs_period_us')));
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  // "max" (v2) or -1 (v1): unlimited.
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : undefined;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
