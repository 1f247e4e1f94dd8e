import { join } from 'node:path';
import { ActorrtError, reviveError } from '../errors.js';
import { callTimeout, decodeProfileArgs, profileFileName, type ProfileAnswer } from '../profile/request.js';
import { ChildGoneError } from './child-link.js';
import type { Child } from './child.js';
import { FRONT, type Processes } from './processes.js';
import { vitalLimits } from './watchdog.js';

/**
 * The admin `profile` command: pick one serving process of the target, have it profile itself
 * and write the file (the profile never travels through here: a multi-megabyte message would
 * hold this event loop while it is parsed), and answer where it went. A heap snapshot blocks the
 * process on purpose, so the watchdog leaves it alone until the call ends.
 */
export async function profileProcess(processes: Processes, args: Readonly<Record<string, unknown>>): Promise<ProfileAnswer> {
  const request = decodeProfileArgs(args);
  const { target, kind, duration } = request;
  const { config, supervisor } = processes;
  const pool = target === 'front' ? undefined : config.pools[target];
  if (target !== 'front' && pool === undefined) {
    throw new ActorrtError('ACTORRT_E_PROFILE_TARGET', `the running topology has no pool named "${target}"; targets: front, ${Object.keys(config.pools).join(', ')}`,
      { hint: 'name a pool from actorrt status, or front for a front worker' });
  }
  // An inline pool runs in every front worker: profiling it is profiling one of them.
  const inline = pool !== undefined && pool.processes === undefined ? pool.name : undefined;
  const group = pool === undefined || inline !== undefined ? FRONT : pool.name;
  const child = pick(processes.serving(group).filter((c) => c.state === 'up' && c.pid !== undefined), request, target);
  const pid = child.pid as number; // filtered above
  const path = 'file' in request.out ? request.out.file : join(request.out.dir, profileFileName(target, pid, kind, new Date()));
  const maxRss = vitalLimits(config, group).maxRss;
  const release = kind === 'heap-snapshot' ? supervisor.excuse(child) : undefined;
  const who = `${child.spec.name} (pid ${pid})`;
  const timeout = callTimeout(kind, duration);
  try {
    const reply = await supervisor.call(child, { type: 'profile', kind, duration, path, ...(maxRss === undefined ? {} : { maxRss }) }, timeout);
    if (!reply.ok || reply.profile === undefined) {
      const error = reply.error ?? { code: 'ACTORRT_E_INTERNAL', message: 'it answered without a file' };
      throw reviveError(error.code, `${who}: ${error.message}`, 'hint' in error ? error.hint : undefined);
    }
    return { target, process: child.spec.name, pid, ...(inline === undefined ? {} : { inline }), kind, duration, path: reply.profile.path, bytes: reply.profile.bytes };
  } catch (err) {
    if (err instanceof ActorrtError) throw err;
    const gone = err instanceof ChildGoneError || child.pid !== pid;
    throw new ActorrtError('ACTORRT_E_PROFILE_FAILED', gone
      ? `${who} exited during the ${kind} profile; no file was written`
      : `${who} did not finish the ${kind} profile within ${Math.round(timeout / 1000)} s; no file was written`,
    { hint: gone ? 'actorrt status shows what replaced it; profile again' : 'its event loop may be blocked: the watchdog replaces it if so', cause: err });
  } finally {
    release?.();
  }
}

/** The process asked for (`--process` index or `--pid`), or the first serving one; ACTORRT_E_PROFILE_TARGET listing those there are. */
function pick(serving: readonly Child[], request: { readonly process?: number; readonly pid?: number }, target: string): Child {
  const list = serving.length === 0 ? 'none is serving now' : `serving: ${serving.map((c) => `${c.spec.index} (pid ${String(c.pid)})`).join(', ')}`;
  const kind = target === 'front' || serving[0]?.spec.group === FRONT ? 'front worker' : `process of pool ${target}`;
  const found = request.pid !== undefined ? serving.find((c) => c.pid === request.pid)
    : request.process !== undefined ? serving.find((c) => c.spec.index === request.process)
      : serving[0];
  if (found !== undefined) return found;
  const asked = request.pid !== undefined ? ` with pid ${request.pid}` : request.process !== undefined ? ` with index ${request.process}` : '';
  throw new ActorrtError('ACTORRT_E_PROFILE_TARGET', `${target}: no ${kind}${asked} to profile; ${list}`,
    { hint: 'pick one with --process <index> or --pid <pid> (actorrt status lists them)' });
}
