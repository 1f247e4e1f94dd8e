/** The chaos topology's actor: /db reads PostgreSQL, /kv reads and writes Redis, anything else says where it ran. */
export default {
  receive: async (_state, req, ctx) => {
    if (req.path === '/db') {
      const { rows } = await ctx.resources.pg.query('select 1 as one');
      return { one: rows[0].one, pid: process.pid };
    }
    if (req.path === '/kv') {
      await ctx.resources.redis.set('actorrt:chaos:kv', String(Date.now()), { PX: 10_000 });
      return { kv: await ctx.resources.redis.get('actorrt:chaos:kv'), pid: process.pid };
    }
    return { pid: process.pid };
  },
};
