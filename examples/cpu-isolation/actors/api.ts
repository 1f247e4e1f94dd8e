import { defineActor } from 'actorrt';

/** The fast route: answers at once, from a front worker. */
export default defineActor({
  receive: (_state, _req, ctx) => ({ pong: true, pid: ctx.self.pid }),
});
