import { defineActor, errorReply, type ActorReply, type ActorRequest, type SqliteDatabase } from 'actorrt';
import type { Statement } from 'better-sqlite3';

interface Note { id: number; title: string; body: string; created_at: string; updated_at: string }
interface NoteInput { title?: unknown; body?: unknown }

/** Prepared once per actor (and again after a restart); better-sqlite3 statements are reusable. */
interface Statements {
  list: Statement<[number, number], Note>;
  get: Statement<[number], Note>;
  insert: Statement<[string, string], Note>;
  update: Statement<[string | null, string | null, number], Note>;
  remove: Statement<[number]>;
}

const MAX_PAGE = 100;

/** CRUD on the `notes` table: GET /notes?limit=&after=, POST /notes, GET|PUT|PATCH|DELETE /notes/:id. */
export default defineActor<Statements, { db: SqliteDatabase }>({
  init: ({ resources: { db } }) => ({
    list: db.prepare('SELECT * FROM notes WHERE id > ? ORDER BY id LIMIT ?'),
    get: db.prepare('SELECT * FROM notes WHERE id = ?'),
    insert: db.prepare('INSERT INTO notes (title, body) VALUES (?, ?) RETURNING *'),
    update: db.prepare(`UPDATE notes SET title = coalesce(?, title), body = coalesce(?, body),
      updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? RETURNING *`),
    remove: db.prepare('DELETE FROM notes WHERE id = ?'),
  }),
  receive: (sql, req): ActorReply => {
    if (req.params.id === undefined) {
      if (req.method === 'POST') {
        const input = validate(req, true);
        if ('error' in input) return input.error;
        return { status: 201, body: sql.insert.get(input.title ?? '', input.body ?? '') };
      }
      const limit = Math.min(MAX_PAGE, positive(req.query.limit) ?? 20);
      const notes = sql.list.all(positive(req.query.after) ?? 0, limit);
      return { body: { notes, next: notes.length === limit ? notes[notes.length - 1]?.id : null } };
    }
    const id = positive(req.params.id);
    if (id === undefined) return errorReply(req, 400, 'BAD_ID', 'id must be a positive integer');
    if (req.method === 'GET') return found(req, sql.get.get(id), id);
    if (req.method === 'DELETE') return sql.remove.run(id).changes === 0 ? notFound(req, id) : { status: 204 };
    const input = validate(req, req.method === 'PUT');
    if ('error' in input) return input.error;
    return found(req, sql.update.get(input.title ?? null, input.body ?? null, id), id);
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
