import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** How long the file must stay quiet before a change is acted on (editors write in several steps). */
const DEBOUNCE_MS = 300;

/**
 * Watch a topology file for saves. The folder is watched, not the file: editors that save by
 * writing a new file and renaming it over the old one (vim, VS Code, sed -i), or that delete and
 * recreate it, replace the inode a file watch would follow, and Kubernetes swaps ConfigMap files
 * through a symlink in the same folder. Every burst of events is debounced, then the content is
 * compared with the last one seen, so a touch or a rewrite with the same bytes does nothing.
 */
export function watchTopology(file: string, onChange: () => void): () => void {
  const name = basename(file);
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const settle = async (): Promise<void> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return; // gone for a moment (delete-and-recreate): the next event brings it back
    }
    if (text === last) return;
    const first = last === undefined;
    last = text;
    if (!first) onChange();
  };
  void settle();
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => { void settle(); }, DEBOUNCE_MS);
    });
    watcher.on('error', () => undefined);
  } catch {
    // A folder that cannot be watched (some network file systems): SIGHUP and `actorrt reload` still work.
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}
