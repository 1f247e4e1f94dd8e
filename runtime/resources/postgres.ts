import pg from 'pg';
import type { PostgresResource } from '../../config/types.js';
import type { Logger } from '../logger.js';
import type { Opened } from './driver.js';

/**
 * A `pg.Pool` for this process: at most `max` connections, so N processes use at most N x max.
 * Connections are made lazily and re-made after the server comes back, which is what keeps a
 * database restart from needing an actorrt restart.
 */
export function openPostgres(name: string, resource: PostgresResource, log: Logger): Opened<pg.Pool> {
  const pool = new pg.Pool({
    ...(resource.url === undefined ? {} : { connectionString: resource.url }),
    ...(resource.host === undefined ? {} : { host: resource.host }),
    ...(resource.port === undefined ? {} : { port: resource.port }),
    ...(resource.user === undefined ? {} : { user: resource.user }),
    ...(resource.password === undefined ? {} : { password: resource.password }),
    ...(resource.database === undefined ? {} : { database: resource.database }),
    ...(resource.statementTimeout === undefined ? {} : { statement_timeout: resource.statementTimeout }),
    max: resource.max,
    idleTimeoutMillis: resource.idleTimeout,
    connectionTimeoutMillis: resource.connectTimeout,
    application_name: `actorrt:${name}`,
  });
  // An idle connection that dies (server restart) is emitted here; without a listener it would
  // crash the process. The pool has already discarded it, so a log line is all it needs.
  pool.on('error', (err) => log.warn({ resource: name, err: err.message }, 'idle PostgreSQL connection lost'));
  let closed = false;
  return {
    client: pool,
    check: async () => {
      await pool.query('SELECT 1');
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
