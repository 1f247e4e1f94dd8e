import { readlinkSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';

/** How long the file must stay quiet before a change is acted on (editors write in several steps). */
const DEBOUNCE_MS = 300;
/** Symlinks followed before a path is called a loop (Linux's own limit, MAXSYMLINKS, is 40). */
const MAX_LINKS = 40;

/**
 * Watch a topology file for saves, wherever the bytes live. Folders are watched, not the file:
 * editors that save by writing a new file and renaming it over the old one (vim, VS Code, sed -i),
 * or that delete and recreate it, replace the inode a file watch would follow. When the path is a
 * symlink, or goes through one, the folder of every link on the way is watched too (for the link
 * itself being replaced: `ln -sfn`, or Kubernetes swapping a ConfigMap volume's `..data` link to a
 * new `..2026_11_30_xxx` folder by renaming `..data_tmp` over it), and so is the folder of the
 * file the path resolves to now (for edits of the file itself, `sed -i ../config/actorrt.yml`).
 * After every burst of events (debounced) the path is resolved again and the watches moved to the
 * folders it goes through now; then the content is compared with the last one seen, so a touch, a
 * swap to identical bytes or a rewrite with the same content does nothing.
 */
export function watchTopology(file: string, onChange: () => void): () => void {
  const path = resolve(file);
  const watchers = new Map<string, { watcher: FSWatcher | undefined; names: Set<string> }>();
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const changed = (folder: string, name: string | null): void => {
    // No name: the platform could not say which entry changed, so any may be ours.
    if (name !== null && watchers.get(folder)?.names.has(name) !== true) return;
    clearTimeout(timer);
    timer = setTimeout(() => { void settle(); }, DEBOUNCE_MS);
  };

  /** Watch exactly the folders `path` goes through now (see linksOf), each for the names that matter there. */
  const arm = (): void => {
    const wanted = linksOf(path);
    for (const [folder, entry] of watchers) {
      if (wanted.has(folder)) continue;
      entry.watcher?.close();
      watchers.delete(folder);
    }
    for (const [folder, names] of wanted) {
      const entry = watchers.get(folder);
      if (entry !== undefined && entry.watcher !== undefined) {
        entry.names = names;
        continue;
      }
      let watcher: FSWatcher | undefined;
      try {
        watcher = watch(folder, { persistent: false }, (_event, name) => changed(folder, name));
        watcher.on('error', () => undefined); // the folder went away (a ConfigMap's old data folder): the next arm drops it
      } catch {
        // A folder that is missing for now, or cannot be watched (some network file systems):
        // SIGHUP and `actorrt reload` still work, and the next event arms it again.
      }
      watchers.set(folder, { watcher, names });
    }
  };

  const settle = async (): Promise<void> => {
    if (closed) return;
    arm(); // before reading, so an edit made after the swap is not missed
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return; // gone for a moment (delete-and-recreate, a link being replaced): the next event brings it back
    }
    if (text === last || closed) return;
    const first = last === undefined;
    last = text;
    if (!first) onChange();
  };
  void settle();

  return () => {
    closed = true;
    clearTimeout(timer);
    for (const { watcher } of watchers.values()) watcher?.close();
    watchers.clear();
  };
}

/**
 * The folders whose entries decide what `path` is and holds, each with the names that matter in
 * it: the folder of every symlink met while resolving the path (a component of it or the file
 * itself; the link's name), and the folder of the file it resolves to (the file's name). Resolved
 * component by component, as realpath does; a missing component ends the walk there (the file may
 * be in the middle of a delete-and-recreate), a loop after MAX_LINKS links.
 */
export function linksOf(path: string): Map<string, Set<string>> {
  const folders = new Map<string, Set<string>>();
  const add = (folder: string, name: string): void => {
    const names = folders.get(folder) ?? new Set<string>();
    names.add(name);
    folders.set(folder, names);
  };
  let rest = parts(path);
  let current: string = sep;
  let links = 0;
  while (rest.length > 0) {
    const name = rest.shift() as string;
    const next = join(current, name);
    let target: string | undefined;
    try {
      target = readlinkSync(next);
    } catch {
      target = undefined; // not a link (EINVAL), or not there (ENOENT): the walk goes on lexically
    }
    if (target === undefined || links >= MAX_LINKS) {
      current = next;
      continue;
    }
    links++;
    add(current, name);
    // `current` has no links left in it, so a relative target's `..` can be resolved lexically.
    rest = [...parts(isAbsolute(target) ? target : join(current, target)), ...rest];
    current = sep;
  }
  add(dirname(current), basename(current));
  return folders;
}

function parts(path: string): string[] {
  return resolve(path).split(sep).filter((p) => p !== '');
}
