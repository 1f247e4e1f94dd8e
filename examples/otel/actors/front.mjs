// The request's trace: `req.trace` (its traceparent goes on calls this actor makes to other services).
export default {
  receive: async (state, req, ctx) => {
    ctx.log.info({ order: req.params.id }, 'pricing the order');   // the line carries requestId and traceId
    const price = await ctx.ask('work', { order: req.params.id }); // joins the trace: a span in the work process
    return { order: req.params.id, price, trace: req.trace };
  },
};
