import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of a process tree from /proc (Linux): user + system time of `root` and every
 * descendant alive now, in microseconds. Sampled before and after a measurement, the difference
 * over the requests served is the CPU each request cost the whole contender (front workers, pool
 * processes, primary), which is what tells how it scales on a bigger machine.
 */
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** Summed CPU of `root`'s tree, per pid (so processes that exit between samples can be told apart). */
export function treeCpu(root: number): Map<number, number> {
  const parents = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parents.set(pid, Number(fields[1]));
    cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * TICK_US);
  }
  const out = new Map<number, number>();
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) if (p === root) return true;
    return false;
  };
  for (const [pid, us] of cpu) if (inTree(pid)) out.set(pid, us);
  return out;
}

/** CPU spent by the tree between two samples (processes gone by the second sample count what they had at the first). */
export function cpuBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let us = 0;
  for (const [pid, now] of after) us += now - (before.get(pid) ?? 0);
  return us;
}
