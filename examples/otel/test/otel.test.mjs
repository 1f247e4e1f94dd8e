import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startTopology } from 'actorrt/testing';

// No OpenTelemetry SDK needed: the trace ids exist without one (req.trace, log lines, traceparent).
// Both pools run in this process under the kit; `front` asks `work` as it would across processes.
const app = await startTopology(join(import.meta.dirname, '..', 'actorrt.yml'));
after(() => app.close());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

test('front asks work, and both see the trace of the traceparent the client sent', async () => {
  const res = await app.request({ url: '/orders/42', headers: { traceparent } });
  assert.equal(res.status, 200);
  const { order, price, trace } = res.body;
  assert.equal(order, '42');
  assert.equal(price.cents, 1002, 'priced by the work pool');

  assert.equal(trace.traceId, TRACE_ID);
  assert.equal(trace.parentSpanId, '00f067aa0ba902b7', "the client's span is the request's parent");
  assert.equal(trace.traceparent, `00-${TRACE_ID}-${trace.spanId}-01`, 'what front would forward');
  assert.equal(price.traceId, TRACE_ID);
  assert.equal(price.parentSpanId, trace.spanId, "work's message is a child of front's span");
});

test('without a traceparent a new trace starts, shared by front and work', async () => {
  const { body } = await app.request({ url: '/orders/7' });
  assert.match(body.trace.traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(body.trace.traceId, TRACE_ID);
  assert.equal(body.price.traceId, body.trace.traceId);
});

test("ctx.log lines and the access line are recorded with the request's requestId and traceId", async () => {
  const res = await app.request({ url: '/orders/99', headers: { traceparent } });
  const requestId = res.headers['x-request-id'];
  const lines = app.logs.filter((line) => line.requestId === requestId);

  const logged = lines.find((line) => line.msg === 'pricing the order');
  assert.ok(logged, 'the ctx.log.info line of the front actor');
  assert.deepEqual([logged.pool, logged.order, logged.traceId], ['front', '99', TRACE_ID]);

  const access = lines.find((line) => line.event === 'access');
  assert.ok(access, 'an access line (http.accessLog)');
  assert.deepEqual([access.path, access.status, access.traceId], ['/orders/99', 200, TRACE_ID]);
});
