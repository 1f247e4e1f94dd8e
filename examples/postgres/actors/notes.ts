import { defineActor, type ActorReply, type PostgresPool } from 'actorrt';

interface Note { id: number; title: string; body: string; created_at: string; updated_at: string }
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
        const input = validate(req.body, true);
        if ('error' in input) return input.error;
        const { rows } = await pg.query<Note>('INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING *', [input.title, input.body ?? '']);
        return { status: 201, body: rows[0] };
      }
      const limit = Math.min(MAX_PAGE, positive(req.query.limit) ?? 20);
      const { rows } = await pg.query<Note>('SELECT * FROM notes WHERE id > $1 ORDER BY id LIMIT $2', [positive(req.query.after) ?? 0, limit]);
      return { body: { notes: rows, next: rows.length === limit ? rows[rows.length - 1]?.id : null } };
    }
    const id = positive(req.params.id);
    if (id === undefined) return problem(400, 'id must be a positive integer');
    if (req.method === 'GET') return found((await pg.query<Note>('SELECT * FROM notes WHERE id = $1', [id])).rows[0], id);
    if (req.method === 'DELETE') {
      const { rowCount } = await pg.query('DELETE FROM notes WHERE id = $1', [id]);
      return rowCount === 0 ? problem(404, `note ${id} not found`) : { status: 204 };
    }
    const input = validate(req.body, req.method === 'PUT');
    if ('error' in input) return input.error;
    const { rows } = await pg.query<Note>(`UPDATE notes SET title = coalesce($1, title), body = coalesce($2, body), updated_at = now()
      WHERE id = $3 RETURNING *`, [input.title ?? null, input.body ?? null, id]);
    return found(rows[0], id);
  },
});

function validate(body: unknown, full: boolean): { title?: string; body?: string } | { error: ActorReply } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { error: problem(400, 'send a JSON object: {"title": "...", "body": "..."}') };
  const { title, body: text } = body as NoteInput;
  if ((full || title !== undefined) && (typeof title !== 'string' || title.trim() === '')) return { error: problem(400, 'title must be a non-empty string') };
  if (text !== undefined && typeof text !== 'string') return { error: problem(400, 'body must be a string') };
  return { ...(title === undefined ? {} : { title: title as string }), ...(text === undefined ? {} : { body: text }) };
}

function found(note: Note | undefined, id: number): ActorReply {
  return note === undefined ? problem(404, `note ${id} not found`) : { body: note };
}

function problem(status: number, message: string): ActorReply {
  return { status, body: { error: { message } } };
}

function positive(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
