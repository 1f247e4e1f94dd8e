// Runs in a pool process of its own; its request's trace is a child of the asking actor's span.
export default {
  receive: (state, req) => ({ cents: 1000 + Number(req.body.order.length), traceId: req.trace.traceId, parentSpanId: req.trace.parentSpanId }),
};
