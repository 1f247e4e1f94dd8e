import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ActorrtError, isErrorCode } from '../errors.js';
import { BadField } from '../protocol/check.js';
import type { ProfileKind } from '../protocol/shapes.js';
import { adminTimeout, DEFAULT_SECONDS, isProfileAnswer, MAX_SECONDS, type ProfileAnswer } from '../profile/request.js';
import { cpuSelfTimes, decodeCpuProfile, decodeHeapProfile, heapSelfSizes, type Summary } from '../profile/summary.js';
import type { Command, OptionValues } from './command.js';
import { findInstance, topologyFile } from './instance.js';

/** Functions listed in the summary. */
const TOP = 15;

export const profile: Command = {
  usage: 'profile <pool|front> [file] [--seconds N] [--heap]',
  summary: 'CPU or heap profile of one running process, no restart',
  help: `Profiles one process of the instance started from the topology file (default: actorrt.yml)
from inside it, with node:inspector: no restart, no debug port. The target is "front" (a front
worker) or a pool; an inline pool runs in the front workers, so one of them is profiled. The
process writes the file itself (default: actorrt-<target>-<pid>-<time>.cpuprofile in the current
folder, readable by you only); the command then prints the functions with the most self time,
with file:line (TypeScript actors at their .ts lines). Open the file in Chrome DevTools
(Performance panel, "Load profile"), VS Code, or https://www.speedscope.app.

Options:
  --seconds N      how long to sample (default ${DEFAULT_SECONDS}, at most ${MAX_SECONDS})
  --process N      profile the process with this index (as actorrt status --json lists them;
                   default: the first serving one)
  --pid P          profile the process with this pid
  --heap           a sampling heap profile instead (.heapprofile): the functions that allocated
                   the most; the process is not blocked
  --heap-snapshot  a full heap snapshot (.heapsnapshot, DevTools' Memory panel). It blocks the
                   process while it is taken and needs memory beside its heap (up to 14 times
                   the live heap was measured): refused when its maxRss, its cgroup's memory
                   limit or the machine lacks 16 times its live heap
  --out F          the file to write
  --pid-file F     the pid file the instance was started with`,
  options: {
    seconds: { type: 'string' }, process: { type: 'string' }, pid: { type: 'string' }, heap: { type: 'boolean' }, 'heap-snapshot': { type: 'boolean' },
    out: { type: 'string' }, 'pid-file': { type: 'string' },
  },
  async run(values, positionals) {
    const [target, file, ...extra] = positionals;
    if (target === undefined) throw new ActorrtError('ACTORRT_E_USAGE', 'profile needs a target: a pool name, or front');
    if (extra.length > 0) throw new ActorrtError('ACTORRT_E_USAGE', `profile takes a target and at most one topology file; got ${positionals.join(' ')}`);
    const kind = kindOf(values);
    const duration = kind === 'heap-snapshot' ? 0 : seconds(values['seconds']) * 1000;
    const which = processOf(values);
    const out = typeof values['out'] === 'string' ? { file: resolve(values['out']) } : { dir: process.cwd() };
    writable(out);
    const instance = findInstance(values, file);
    process.stdout.write(kind === 'heap-snapshot' ? `taking a heap snapshot of ${target}...\n` : `profiling ${target} for ${duration / 1000} s...\n`);
    const answer = await instance.ask('profile', { target, kind, duration: Math.max(duration, 1), ...which, ...out }, adminTimeout(kind, duration));
    if (!isProfileAnswer(answer)) throw refused(answer);
    process.stdout.write(`${report(answer, dirname(topologyFile(file))).join('\n')}\n`);
    return 0;
  },
};

/**
 * The file can be written where it is asked for: checked before the profile runs (the process
 * writes it only at the end, and a typo must not cost a 5-minute profile). The CLI and the
 * instance share the file system (the process writes the path given here).
 */
function writable(out: { readonly file: string } | { readonly dir: string }): void {
  const dir = 'file' in out ? dirname(out.file) : out.dir;
  if ('file' in out && existsSync(out.file) && statSync(out.file).isDirectory()) {
    throw new ActorrtError('ACTORRT_E_USAGE', `--out ${out.file} is a folder`, { hint: 'name a file, e.g. --out ./api.cpuprofile' });
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ActorrtError('ACTORRT_E_USAGE', `the folder ${dir} does not exist`, { hint: 'make it first, or give --out a file in a folder that exists' });
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ActorrtError('ACTORRT_E_USAGE', `the folder ${dir} cannot be written`, { hint: '--out to a folder you (and the instance\'s user) can write' });
  }
}

function kindOf(values: OptionValues): ProfileKind {
  if (values['heap'] === true && values['heap-snapshot'] === true) throw new ActorrtError('ACTORRT_E_USAGE', '--heap and --heap-snapshot exclude each other');
  return values['heap-snapshot'] === true ? 'heap-snapshot' : values['heap'] === true ? 'heap' : 'cpu';
}

function seconds(v: OptionValues[string]): number {
  if (v === undefined) return DEFAULT_SECONDS;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > MAX_SECONDS) {
    throw new ActorrtError('ACTORRT_E_USAGE', `--seconds takes a number of seconds above 0, at most ${MAX_SECONDS}; got ${String(v)}`);
  }
  return n;
}

function processOf(values: OptionValues): { process?: number; pid?: number } {
  const int = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new ActorrtError('ACTORRT_E_USAGE', `--${name} takes a whole number; got ${String(v)}`);
    return Number(v);
  };
  const index = int('process');
  const pid = int('pid');
  if (index !== undefined && pid !== undefined) throw new ActorrtError('ACTORRT_E_USAGE', '--process and --pid exclude each other');
  return index !== undefined ? { process: index } : pid !== undefined ? { pid } : {};
}

/** The admin socket's error answer as the error it carries (a primary that predates this command answers without a code). */
function refused(answer: unknown): ActorrtError {
  const { error, code, hint } = (answer ?? {}) as { error?: unknown; code?: unknown; hint?: unknown };
  if (typeof error !== 'string') return new ActorrtError('ACTORRT_E_INTERNAL', 'the instance gave an answer this actorrt does not understand');
  if (!isErrorCode(code)) return new ActorrtError('ACTORRT_E_INTERNAL', error, { hint: 'the running instance may predate actorrt profile: restart it with this version' });
  return new ActorrtError(code, error, typeof hint === 'string' ? { hint } : {});
}

/** What the command prints: which process, the top functions (read from the file it wrote), where the file is. */
function report(a: ProfileAnswer, base: string): string[] {
  const who = `${a.process} (pid ${a.pid})${a.inline === undefined ? '' : `, a front worker: pool ${a.inline} is inline and runs in every front worker`}`;
  const written = `written ${a.path} (${mib(a.bytes)})`;
  if (a.kind === 'heap-snapshot') {
    return [`heap snapshot of ${who}`, written, 'open it in Chrome DevTools (Memory panel, "Load") to browse what holds memory'];
  }
  const summary = summarize(a, base);
  if (a.kind === 'cpu') {
    return [
      `CPU profile of ${who}, ${a.duration / 1000} s: ${summary.samples} samples; top ${summary.rows.length} functions by self time`,
      ...table(summary, 'self ms', (us) => (us / 1000).toFixed(1)),
      written,
      'open it in Chrome DevTools (Performance panel, "Load profile"), VS Code, or https://www.speedscope.app',
    ];
  }
  return [
    `heap profile of ${who}, ${a.duration / 1000} s: ${mib(summary.total)} allocated (${summary.samples} samples); top ${summary.rows.length} functions by bytes allocated`,
    ...table(summary, 'self MiB', (bytes) => (bytes / 1048576).toFixed(2)),
    written,
    'open it in Chrome DevTools (Memory panel, "Load")',
  ];
}

function summarize(a: ProfileAnswer, base: string): Summary {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(a.path, 'utf8'));
    return a.kind === 'cpu' ? cpuSelfTimes(decodeCpuProfile(data), base, TOP) : heapSelfSizes(decodeHeapProfile(data), base, TOP);
  } catch (err) {
    const why = err instanceof BadField ? `it is not a ${a.kind} profile (${err.message})` : `it could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    throw new ActorrtError('ACTORRT_E_PROFILE_FAILED', `${a.path} was written by ${a.process} (pid ${a.pid}) but ${why}`, { cause: err });
  }
}

function table(summary: Summary, unit: string, value: (n: number) => string): string[] {
  const width = Math.min(40, Math.max(8, ...summary.rows.map((r) => r.name.length)));
  return [
    `  ${unit.padStart(9)}  ${'self %'.padStart(6)}  ${'function'.padEnd(width)}  location`,
    ...summary.rows.map((r) => `  ${value(r.self).padStart(9)}  ${`${(r.share * 100).toFixed(1)}%`.padStart(6)}  ${r.name.padEnd(width)}  ${r.location ?? r.note ?? ''}`),
  ];
}

function mib(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}
