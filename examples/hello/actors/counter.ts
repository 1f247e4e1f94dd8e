import { defineActor } from 'actorrt';

interface CountEvent { readonly type: 'count'; readonly by?: number }

/** Keeps a running count per actor: POST /events {type:"count"} adds, GET /count reads, DELETE /count resets. */
export default defineActor({
  init: () => ({ count: 0 }),
  receive: (state, req) => {
    if (req.method === 'DELETE') {
      state.count = 0;
      return { status: 204 };
    }
    if (req.method === 'POST') {
      const event = req.body as CountEvent;
      state.count += typeof event.by === 'number' ? event.by : 1;
      return { status: 201, body: { count: state.count } };
    }
    return { count: state.count };
  },
});
