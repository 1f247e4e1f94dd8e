import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteResource } from '../../config/types.js';
import { makeDirectory } from '../make-directory.js';
import type { Opened } from './driver.js';

/** How long a writer waits for another process's lock before SQLITE_BUSY (every process opens the file). */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Open an SQLite database with better-sqlite3 (synchronous: one query never yields, which is the
 * fastest way to read a local file). WAL lets readers in other processes run beside one writer.
 * `init` runs at every open, so it must be idempotent (`CREATE TABLE IF NOT EXISTS`).
 */
export async function openSqlite(resource: SqliteResource): Promise<Opened<Database.Database>> {
  const memory = resource.file === ':memory:';
  if (!memory && !resource.readonly) makeDirectory(dirname(resource.file));
  const init = resource.init === undefined ? undefined : readFileSync(resource.init, 'utf8');
  const db = await retryLocked(() => setUp(resource, memory, init), Date.now() + BUSY_TIMEOUT_MS);
  const probe = db.prepare('SELECT 1');
  return {
    client: db,
    check: () => {
      probe.get();
      return Promise.resolve();
    },
    close: () => {
      if (db.open) db.close();
      return Promise.resolve();
    },
  };
}

function setUp(resource: SqliteResource, memory: boolean, init: string | undefined): Database.Database {
  const db = new Database(resource.file, { readonly: resource.readonly, fileMustExist: resource.readonly });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (resource.wal && !memory && !resource.readonly) db.pragma('journal_mode = WAL');
    if (init !== undefined) db.exec(init);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Run `attempt` again while SQLite answers SQLITE_BUSY / SQLITE_LOCKED, until `deadline`. The busy
 * timeout covers ordinary waits, but when processes set up a new file at the same instant (all
 * switching it to WAL, all running `init`) SQLite breaks the lock cycle by failing one of them at
 * once instead of waiting; measured: 2 in 800 simultaneous opens of a fresh file.
 */
export async function retryLocked<T>(attempt: () => T, deadline: number): Promise<T> {
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      return attempt();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const locked = typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
      if (!locked || Date.now() + delay > deadline) throw err;
      // Jitter, so two processes that collided do not collide again on the same beat.
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * delay));
    }
  }
}
