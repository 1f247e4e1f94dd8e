import { pbkdf2Sync } from 'node:crypto';
import { defineActor, errorReply } from 'actorrt';

interface HashBody { readonly password?: unknown; readonly salt?: unknown }

/** The slow route: a deliberately expensive key derivation (synchronous: it holds its process's CPU). */
export default defineActor({
  receive: (_state, req, ctx) => {
    const body = (req.body ?? {}) as HashBody;
    if (typeof body.password !== 'string' || body.password.length === 0) {
      return errorReply(req, 400, 'PASSWORD_REQUIRED', 'send {"password": "..."} as JSON');
    }
    const salt = typeof body.salt === 'string' ? body.salt : 'actorrt';
    const key = pbkdf2Sync(body.password, salt, 50_000, 32, 'sha256').toString('hex');
    return { key, pid: ctx.self.pid };
  },
});
