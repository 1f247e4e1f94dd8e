import { isAbsolute } from 'node:path';
import { ActorrtError } from '../errors.js';
import { PROFILE_KINDS, type ProfileKind } from '../protocol/shapes.js';

/**
 * `actorrt profile` as it crosses the admin socket: the CLI's request, the primary's answer (each
 * checked on arrival), and the waits both sides agree on.
 */

/** The longest sampling profile (a profile is a look at a running process, not a recorder). */
export const MAX_SECONDS = 300;
export const DEFAULT_SECONDS = 10;
/** Past the sampling time: Profiler.stop building the profile, mapping its frames and writing the file. */
const WRITE_MARGIN_MS = 30_000;
/** Measured: a snapshot takes 0.3 s for a bare node (4 MiB heap) and 7.3 s for 78 MiB of small objects, about 10 s per 100 MiB: this covers some 3 GiB. */
const SNAPSHOT_TIMEOUT_MS = 300_000;
/** The admin client waits this much longer than the primary waits for the child, so the primary's own error arrives first. */
const ADMIN_MARGIN_MS = 10_000;

/** The file name extension Chrome DevTools and speedscope expect for each kind. */
export const PROFILE_EXTENSIONS: Readonly<Record<ProfileKind, string>> = { cpu: '.cpuprofile', heap: '.heapprofile', 'heap-snapshot': '.heapsnapshot' };

/** How long the primary waits for the child's answer (ms). */
export function callTimeout(kind: ProfileKind, duration: number): number {
  return kind === 'heap-snapshot' ? SNAPSHOT_TIMEOUT_MS : duration + WRITE_MARGIN_MS;
}

/** How long the CLI waits for the primary's answer (ms). */
export function adminTimeout(kind: ProfileKind, duration: number): number {
  return callTimeout(kind, duration) + ADMIN_MARGIN_MS;
}

/** `actorrt-<target>-<pid>-<UTC time>.<ext>`, e.g. `actorrt-front-4242-20250102T030405Z.cpuprofile`. */
export function profileFileName(target: string, pid: number, kind: ProfileKind, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `actorrt-${target.replace(/[^A-Za-z0-9_.-]/g, '_')}-${pid}-${stamp}${PROFILE_EXTENSIONS[kind]}`;
}

/** The admin `profile` command's arguments. */
export interface ProfileArgs {
  /** `front`, or a pool's name. */
  readonly target: string;
  readonly kind: ProfileKind;
  /** Sampling time in ms (ignored for a heap snapshot). */
  readonly duration: number;
  /** Pick the process by its index (as `actorrt status` shows it) or by pid; neither: the first serving one. */
  readonly process?: number;
  readonly pid?: number;
  /** Where the file goes: this absolute path, or a default name in this absolute folder. */
  readonly out: { readonly file: string } | { readonly dir: string };
}

/** The admin `profile` command's answer: which process was profiled and the file it wrote. */
export interface ProfileAnswer {
  readonly target: string;
  /** As status and logs name it: `worker 0`, `thumbs process 2`. */
  readonly process: string;
  readonly pid: number;
  /** The target was this inline pool: the process profiled is a front worker running it. */
  readonly inline?: string;
  readonly kind: ProfileKind;
  readonly duration: number;
  readonly path: string;
  readonly bytes: number;
}

/** The request the admin socket received, checked; a wrong one is ACTORRT_E_USAGE naming the field. */
export function decodeProfileArgs(args: Readonly<Record<string, unknown>>): ProfileArgs {
  const { target, kind, duration, process, pid, file, dir } = args;
  if (typeof target !== 'string' || target === '') throw usage('target', 'a pool name or "front"');
  const k = PROFILE_KINDS.find((x) => x === kind);
  if (k === undefined) throw usage('kind', PROFILE_KINDS.join(', '));
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0 || duration > MAX_SECONDS * 1000) throw usage('duration', `milliseconds, at most ${MAX_SECONDS * 1000}`);
  const index = (v: unknown, name: string): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw usage(name, 'an integer >= 0');
    return v;
  };
  const absolute = (v: unknown): v is string => typeof v === 'string' && isAbsolute(v);
  let out: ProfileArgs['out'];
  if (absolute(file)) out = { file };
  else if (absolute(dir)) out = { dir };
  else throw usage('file / dir', 'an absolute path');
  const p = index(process, 'process');
  const id = index(pid, 'pid');
  return { target, kind: k, duration, out, ...(p === undefined ? {} : { process: p }), ...(id === undefined ? {} : { pid: id }) };
}

/** The primary's answer, checked once where the CLI receives it. */
export function isProfileAnswer(v: unknown): v is ProfileAnswer {
  const a = v as Partial<ProfileAnswer> | null;
  return a !== null && typeof a === 'object' && typeof a.target === 'string' && typeof a.process === 'string' && typeof a.pid === 'number'
    && typeof a.path === 'string' && typeof a.bytes === 'number' && typeof a.duration === 'number' && PROFILE_KINDS.some((k) => k === a.kind)
    && (a.inline === undefined || typeof a.inline === 'string');
}

function usage(field: string, expected: string): ActorrtError {
  return new ActorrtError('ACTORRT_E_USAGE', `profile: "${field}" must be ${expected}`);
}
