import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteResource } from '../../config/types.js';
import type { Opened } from './driver.js';

/** How long a writer waits for another process's lock before SQLITE_BUSY (every process opens the file). */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Open an SQLite database with better-sqlite3 (synchronous: one query never yields, which is the
 * fastest way to read a local file). WAL lets readers in other processes run beside one writer.
 * `init` runs at every open, so it must be idempotent (`CREATE TABLE IF NOT EXISTS`).
 */
export function openSqlite(resource: SqliteResource): Opened<Database.Database> {
  const memory = resource.file === ':memory:';
  if (!memory && !resource.readonly) mkdirSync(dirname(resource.file), { recursive: true });
  const db = new Database(resource.file, { readonly: resource.readonly, fileMustExist: resource.readonly });
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (resource.wal && !memory && !resource.readonly) db.pragma('journal_mode = WAL');
    if (resource.init !== undefined) db.exec(readFileSync(resource.init, 'utf8'));
  } catch (err) {
    db.close();
    throw err;
  }
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
