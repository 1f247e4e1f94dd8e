/** GET /items/:id from the bench database: the same query and JSON as the bare sqlite baseline. */
export default {
  init: (ctx) => ({ byId: ctx.resources.db.prepare('SELECT id, name, price, stock FROM items WHERE id = ?') }),
  receive: (state, req) => {
    const row = state.byId.get(Number(req.params.id));
    return row === undefined ? { status: 404, body: { error: 'not found' } } : row;
  },
};
