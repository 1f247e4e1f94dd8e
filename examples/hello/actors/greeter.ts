import { defineActor } from 'actorrt';

/** Greets by path parameter, query or text body; counts greetings per actor. */
export default defineActor({
  init: () => ({ greeted: 0 }),
  receive: (state, req, ctx) => {
    state.greeted += 1;
    const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8').trim() : undefined;
    const name = req.params.name ?? text ?? (typeof req.query.name === 'string' ? req.query.name : 'world');
    return { hello: name, actor: ctx.self.index, greeted: state.greeted };
  },
});
