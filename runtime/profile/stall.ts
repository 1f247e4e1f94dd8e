import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { count, list, optStr, record, str } from '../protocol/check.js';
import { frameLocation, isLibraryCode } from './summary.js';

/**
 * Where a process whose event loop stopped turning was stuck. Its stall thread (stall-thread.ts)
 * pauses the main thread through the inspector, writes what it saw into the instance's runtime
 * folder, and the primary's watchdog reads it when it kills that process: the main thread is stuck,
 * so nothing can travel over IPC. One small JSON file per process, replaced atomically.
 */

/** One call frame of the stuck thread, innermost first: 1-based line and column, mapped through source maps. */
export interface StallFrame {
  readonly function: string;
  readonly url: string;
  readonly line: number;
  readonly column: number;
}

export interface Stall {
  readonly pid: number;
  /** When the main thread was last seen turning (ms since the epoch). */
  readonly since: number;
  /** When the frames were taken. */
  readonly at: number;
  readonly frames: readonly StallFrame[];
  /** Why there are no frames (it never paused: stuck in native code or a system call, where the inspector cannot stop it). */
  readonly error?: string;
}

/** What logs show of a stall: the innermost frame of the user's code, and the stack above it. */
export interface StuckAt {
  readonly function: string;
  /** `file:line`, relative to the topology's folder when inside it. */
  readonly at: string;
  /** The first frames, innermost first: `name (file:line)`. */
  readonly frames: readonly string[];
}

/** The stall file of process `pid` in the runtime folder. */
export function stallFile(runtimeDir: string, pid: number): string {
  return join(runtimeDir, `stall-${pid}.json`);
}

/** Write `stall` so a reader never sees half of it (a file beside, renamed over). */
export function writeStall(file: string, stall: Stall): void {
  const temp = `${file}.tmp`;
  writeFileSync(temp, JSON.stringify(stall), { mode: 0o600 });
  renameSync(temp, file);
}

/** Read and remove a stall file; undefined when there is none or it is not one (a stale or foreign file is not evidence). */
export function takeStall(file: string): Stall | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  rmSync(file, { force: true });
  try {
    const o = record(JSON.parse(text), 'stall');
    const error = optStr(o, 'error', 'stall');
    return {
      pid: count(o, 'pid', 'stall'), since: count(o, 'since', 'stall'), at: count(o, 'at', 'stall'),
      frames: list(o, 'frames', 'stall', (f, at) => {
        const x = record(f, at);
        return { function: str(x, 'function', at), url: str(x, 'url', at), line: count(x, 'line', at), column: count(x, 'column', at) };
      }),
      ...(error === undefined ? {} : { error }),
    };
  } catch {
    return undefined;
  }
}

/** The frames as logs show them, relative to `base` (the topology's folder); undefined when there are none. */
export function stuckAt(stall: Stall, base: string): StuckAt | undefined {
  const place = (f: StallFrame): string => frameLocation(f.url, f.line - 1, base) ?? '(native)';
  // The innermost frame of the user's code: not node's, not actorrt's, not a dependency's.
  const top = stall.frames.find((f) => !isLibraryCode(f.url)) ?? stall.frames[0];
  if (top === undefined) return undefined;
  return { function: top.function, at: place(top), frames: stall.frames.map((f) => `${f.function} (${place(f)})`) };
}

/** `stuck in \`hashPassword\` at actors/hash.ts:14`, or why it is not known. */
export function describeStall(stall: Stall | undefined, base: string): string {
  const at = stall === undefined ? undefined : stuckAt(stall, base);
  if (at !== undefined) return `stuck in \`${at.function}\` at ${at.at}`;
  return stall?.error ?? 'where it was stuck is not known (its stall thread wrote nothing)';
}
