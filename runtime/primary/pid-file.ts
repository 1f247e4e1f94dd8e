import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Logger } from '../logger.js';
import { makeDirectory } from '../make-directory.js';

/**
 * The primary's pid (first line) and its runtime folder (second line), so `actorrt stop` and
 * `actorrt status` can find a running instance. Lives beside the topology in `.actorrt/<name>.pid`.
 * A pid file owned by another live instance is left alone.
 */
export class PidFile {
  private written = false;

  constructor(readonly path: string, private readonly runtimeDir: string, private readonly log: Logger) {}

  /** `.actorrt/<topology name>.pid` next to the topology file. */
  static defaultPath(topology: string): string {
    return join(dirname(topology), '.actorrt', `${basename(topology, extname(topology))}.pid`);
  }

  /** The pid recorded at `path`, if that process is still alive. */
  static read(path: string): number | undefined {
    return PidFile.readEntry(path)?.pid;
  }

  /** The pid and runtime folder recorded at `path`, if that process is still alive. */
  static readEntry(path: string): { pid: number; runtimeDir: string | undefined } | undefined {
    let lines: string[];
    try {
      lines = readFileSync(path, 'utf8').split('\n');
    } catch {
      return undefined;
    }
    const pid = Number(lines[0]?.trim());
    const runtimeDir = lines[1]?.trim() || undefined;
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
      return { pid, runtimeDir };
    } catch (err) {
      // Alive but not ours to signal: another user's instance (the commands say so).
      return (err as NodeJS.ErrnoException).code === 'EPERM' ? { pid, runtimeDir } : undefined;
    }
  }

  write(): void {
    const other = PidFile.read(this.path);
    if (other !== undefined && other !== process.pid) {
      this.log.warn({ pidFile: this.path, otherPid: other }, 'another running instance owns the pid file; `actorrt stop` will address that one');
      return;
    }
    try {
      makeDirectory(dirname(this.path));
      writeFileSync(this.path, `${process.pid}\n${this.runtimeDir}\n`);
      this.written = true;
    } catch (err) {
      this.log.warn({ pidFile: this.path, err: (err as Error).message }, 'could not write the pid file; `actorrt stop` will not find this instance');
    }
  }

  remove(): void {
    if (!this.written) return;
    this.written = false;
    rmSync(this.path, { force: true });
  }
}
