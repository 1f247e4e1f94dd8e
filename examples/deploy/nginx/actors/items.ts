import { defineActor, errorReply, type RedisClient } from 'actorrt';

/**
 * Items kept in the Redis every instance shares (a stand-in for the service's database):
 * GET /items/:id reads one, PUT /items/:id stores the JSON body. The topology caches the reads in
 * each process's memory and the bus drops them in every instance when one is written.
 */
export default defineActor<undefined, { redis: RedisClient }>({
  receive: async (_state, req, { resources: { redis } }) => {
    const id = req.params.id ?? '';
    const key = `deploy-example:item:${id}`;
    if (req.method === 'PUT') {
      if (req.body === undefined || Buffer.isBuffer(req.body)) return errorReply(req, 400, 'BAD_ITEM', 'send the item as JSON (content-type: application/json)');
      await redis.set(key, JSON.stringify(req.body));
      return { status: 200, body: { saved: id } };
    }
    const stored = await redis.get(key);
    if (stored === null) return errorReply(req, 404, 'NOT_FOUND', `no item ${id}`);
    return { id, value: JSON.parse(stored) as unknown };
  },
});
