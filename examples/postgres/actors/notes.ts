import { defineActor, errorReply, type ActorReply, type ActorRequest, type PostgresPool } from 'actorrt';

/** A row as node-pg reads it: a bigint as a string (`"id": "1"` in the JSON), a timestamptz as a Date (an ISO string in the JSON). */
interface Note { id: string; title: string; body: string; created_at: Date; updated_at: Date }
interface NoteInput { title?: unknown; body?: unknown }

const MAX_PAGE = 100;
/** Any constant works; it only keeps concurrent start-ups from creating the table twice. */
const SCHEMA_LOCK = 4_242_001;

/** CRUD on the `notes` table: GET /notes?limit=&after=, POST /notes, GET|PUT|PATCH|DELETE /notes/:id. */
export default defineActor<undefined, { pg: PostgresPool }>({
  init: async ({ resources: { pg } }) => {
    // Every actor of every process runs init; CREATE TABLE IF NOT EXISTS is not safe when run
    // concurrently in PostgreSQL, so take a transaction-scoped advisory lock around it.
    const client = await pg.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await client.query(`CREATE TABLE IF NOT EXISTS notes (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        title text NOT NULL,
        body text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now())`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    return undefined;
  },
  receive: async (_state, req, { resources: { pg } }): Promise<ActorReply> => {
    if (req.params.id === undefined) {
      if (req.method === 'POST') {
        const input = validate(req, true);
        if ('error' in input) return input.error;
        const { rows } = await pg.query<Note>('INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING *', [input.title, input.body ?? '']);
        return { status: 201, body: rows[0] };
      }
      const limit = Math.min(MAX_PAGE, positive(req.query.limit) ?? 20);
      const { rows } = await pg.query<Note>('SELECT * FROM notes WHERE id > $1 ORDER BY id LIMIT $2', [positive(req.query.after) ?? 0, limit]);
      return { body: { notes: rows, next: rows.length === limit ? rows[rows.length - 1]?.id : null } };
    }
    const id = positive(req.params.id);
    if (id === undefined) return errorReply(req, 400, 'BAD_ID', 'id must be a positive integer');
    if (req.method === 'GET') return found(req, (await pg.query<Note>('SELECT * FROM notes WHERE id = $1', [id])).rows[0], id);
    if (req.method === 'DELETE') {
      const { rowCount } = await pg.query('DELETE FROM notes WHERE id = $1', [id]);
      return rowCount === 0 ? notFound(req, id) : { status: 204 };
    }
    const input = validate(req, req.method === 'PUT');
    if ('error' in input) return input.error;
    const { rows } = await pg.query<Note>(`UPDATE notes SET title = coalesce($1, title), body = coalesce($2, body), updated_at = now()
      WHERE id = $3 RETURNING *`, [input.title ?? null, input.body ?? null, id]);
    return found(req, rows[0], id);
  },
});

function validate(req: ActorRequest, full: boolean): { title?: string; body?: string } | { error: ActorReply } {
  const bad = (message: string): { error: ActorReply } => ({ error: errorReply(req, 400, 'BAD_NOTE', message) });
  const { body } = req;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return bad('send a JSON object: {"title": "...", "body": "..."}');
  const { title, body: text } = body as NoteInput;
  if ((full || title !== undefined) && (typeof title !== 'string' || title.trim() === '')) return bad('title must be a non-empty string');
  if (text !== undefined && typeof text !== 'string') return bad('body must be a string');
  return { ...(title === undefined ? {} : { title: title as string }), ...(text === undefined ? {} : { body: text }) };
}

function found(req: ActorRequest, note: Note | undefined, id: number): ActorReply {
  return note === undefined ? notFound(req, id) : { body: note };
}

function notFound(req: ActorRequest, id: number): ActorReply {
  return errorReply(req, 404, 'NOTE_NOT_FOUND', `note ${id} not found`);
}

function positive(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
