import { lstatSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActorrtError } from '../errors.js';

/**
 * The per-instance runtime folder that holds the admin socket and the channel sockets. Whoever
 * can write there can drive the instance, so it must be this user's alone.
 */

/**
 * Create a fresh private folder (mkdtemp: unique, 0700) under `parent` (the system temp folder).
 * Refuses a parent that any user may write to without the sticky bit: another user could move
 * the folder away and put one of theirs in its place.
 */
export function makeRuntimeDir(parent = tmpdir()): string {
  const st = statSync(parent);
  if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
    throw new ActorrtError('ACTORRT_E_PERMISSION', `${parent} is writable by every user and has no sticky bit; the runtime folder cannot be kept private there`,
      { hint: 'point TMPDIR at a folder only this user can write, or chmod +t it' });
  }
  const dir = mkdtempSync(join(parent, 'actorrt-'));
  checkPrivate(dir);
  return dir;
}

/**
 * Throw unless `dir` is a folder (not a link) owned by this user and closed to everyone else. The
 * CLI checks it before talking to an instance, so it never drives another user's instance (or a
 * socket someone else put in its path).
 */
export function checkPrivate(dir: string): void {
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new ActorrtError('ACTORRT_E_PERMISSION', `${dir} is not a folder`);
  if (uid !== undefined && st.uid !== uid) {
    throw new ActorrtError('ACTORRT_E_PERMISSION', `${dir} belongs to another user (uid ${st.uid}); this instance is theirs`,
      { hint: 'run the command as the user that started the instance' });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new ActorrtError('ACTORRT_E_PERMISSION', `${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)})`,
      { hint: 'the instance did not create it; stop it by pid and start it again' });
  }
}
