import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { request } from 'undici';
import type { ActorRequest, RequestTrace } from '../../actors/index.js';
import type { PoolConfig } from '../../config/types.js';
import { serveEndpoint } from '../../runtime/channel/endpoint.js';
import { RemotePool } from '../../runtime/pool/remote-pool.js';
import { lookUpTracer, openSpan } from '../../runtime/trace/tracing.js';
import { childTrace, parseTraceparent } from '../../runtime/trace/trace-context.js';
import { AccessLog } from '../../runtime/worker/access-log.js';
import { clientResolver } from '../../runtime/worker/client-address.js';
import { Exchange } from '../../runtime/worker/exchange.js';
import { eventually, tempDir } from '../helpers.js';

// OpenTelemetry spans with the SDK registered in this process (InMemorySpanExporter): the ids
// actors and forwarded calls see are the spans' own, and the spans chain across the channel hop.

const exporter = new InMemorySpanExporter();
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const named = (name: string): ReadableSpan => spans().find((s) => s.name === name) ?? assert.fail(`no span "${name}" in ${spans().map((s) => s.name).join(', ')}`);
const parentOfSpan = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

describe('with an OpenTelemetry SDK registered', () => {
  before(() => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    assert.ok(lookUpTracer() !== null, 'the registered SDK is found');
  });
  after(() => {
    trace.disable();
    assert.equal(lookUpTracer(), null, 'no SDK: no span work');
  });
  beforeEach(() => exporter.reset());

  /** A node:http server whose handler opens an Exchange as the front does, then runs `respond`. */
  async function server(t: { after(fn: () => unknown): void }, respond: (ex: Exchange, req: IncomingMessage, res: ServerResponse) => void,
    lines: Array<Record<string, unknown>>): Promise<string> {
    const log = pino({ level: 'info', base: { event: 'access' } }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
    const access = new AccessLog({ write: (fields, msg) => log.info(fields, msg) });
    const s = createServer((req, res) => respond(Exchange.open(req, res, 'req-1', clientResolver(false), { log: access, config: { userAgent: true } }), req, res));
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve); }));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }

  test('the request is a SERVER span under the incoming traceparent, named by its route, with HTTP attributes; req.trace shows its ids', async (t) => {
    const lines: Array<Record<string, unknown>> = [];
    const url = await server(t, (ex, _req, res) => {
      ex.route = '/users/:id';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(ex.trace));
    }, lines);
    const res = await request(`${url}/users/7?x=1`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'a=1', 'user-agent': 'probe/1' } });
    const seen = await res.body.json() as RequestTrace;
    await eventually('the span ended', () => spans().length === 1);
    const span = named('GET /users/:id');
    assert.equal(span.kind, SpanKind.SERVER);
    assert.deepEqual([span.spanContext().traceId, span.spanContext().spanId, parentOfSpan(span)], [seen.traceId, seen.spanId, PARENT]);
    assert.equal(seen.traceId, TRACE);
    assert.equal(seen.parentSpanId, PARENT);
    assert.equal(seen.traceparent, `00-${TRACE}-${seen.spanId}-01`);
    assert.equal(seen.tracestate, 'a=1');
    assert.deepEqual({ ...span.attributes }, {
      'http.request.method': 'GET', 'url.path': '/users/7', 'url.scheme': 'http', 'network.protocol.version': '1.1', 'actorrt.request_id': 'req-1',
      'server.port': Number(new URL(url).port), 'user_agent.original': 'probe/1', 'http.route': '/users/:id', 'client.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    await eventually('the access line', () => lines.length === 1);
    const { time: _time, pid: _pid, hostname: _host, durationMs, bytes, ...line } = lines[0] ?? {};
    assert.deepEqual(line, {
      level: 30, event: 'access', method: 'GET', route: '/users/:id', path: '/users/7', status: 200, requestId: 'req-1', client: '127.0.0.1',
      traceId: TRACE, userAgent: 'probe/1', msg: 'GET /users/7 200',
    });
    assert.equal(typeof durationMs, 'number');
    assert.ok(typeof bytes === 'number' && bytes > JSON.stringify(seen).length, 'status line, headers and body');
  });

  test('a 5xx marks the SERVER span as an error with error.type; a client that leaves first is logged 499, aborted', async (t) => {
    const lines: Array<Record<string, unknown>> = [];
    let hung = false;
    const url = await server(t, (_ex, req, res) => {
      if (req.url === '/fail') { res.statusCode = 503; res.end(); }
      else hung = true; // /hang: never answered; the client gives up.
    }, lines);
    await (await request(`${url}/fail`, { method: 'POST' })).body.dump();
    await eventually('the 503 span', () => spans().length === 1);
    const failed = named('POST');
    assert.equal(failed.attributes['error.type'], '503');
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.equal(failed.parentSpanContext, undefined, 'no traceparent came: a new trace');

    const controller = new AbortController();
    const hanging = request(`${url}/hang`, { signal: controller.signal });
    await eventually('the server has the request', () => hung);
    controller.abort();
    await assert.rejects(hanging);
    await eventually('the aborted line', () => lines.length === 2);
    assert.equal(lines[1]?.['status'], 499);
    assert.equal(lines[1]?.['aborted'], true);
    assert.equal(lines[1]?.['route'], undefined);
    await eventually('the aborted span', () => spans().length === 2);
    assert.equal(spans()[1]?.attributes['error.type'], 'aborted');
  });

  test('a dispatch to an isolated pool is a CLIENT span; the pool side a SERVER span under it, whose ids its actor sees', async (t) => {
    const path = join(tempDir('tracing'), 'p.sock');
    const seen: ActorRequest[] = [];
    const endpoint = await serveEndpoint(path, () => ({ dispatch: (req) => { seen.push(req); return Promise.resolve({ status: 200 }); } }), pino({ level: 'silent' }));
    const config: PoolConfig = {
      name: 'p', actor: '/dev/null', size: 1, resources: [], mailbox: { capacity: 10, overflow: 'reject' }, timeout: 5000, drainTimeout: 1000,
      supervision: { strategy: 'one-for-one', maxRestarts: 3, within: 5000, backoff: { min: 10, max: 50 } },
    };
    const pool = new RemotePool(config, [path], pino({ level: 'silent' }));
    t.after(async () => { await pool.stop(1000); await endpoint.close(1000); });
    const requestSpan = openSpan('GET /p', SpanKind.SERVER, parseTraceparent(`00-${TRACE}-${PARENT}-01`, 'a=1'));
    await eventually('connected', () => pool.available && pool.dispatch !== undefined);
    const req: ActorRequest = { method: 'GET', path: '/p', params: {}, query: {}, headers: {}, body: undefined, requestId: 'r1', ip: '', protocol: 'http', trace: requestSpan.trace };
    await eventually('the channel answers', async () => pool.dispatch(req, 1000).then(() => true, () => false));
    requestSpan.span?.end();
    await eventually('both sides ended', () => spans().length >= 3);
    const client = named('dispatch p');
    const served = named('serve p');
    assert.equal(client.kind, SpanKind.CLIENT);
    assert.equal(served.kind, SpanKind.SERVER);
    assert.equal(parentOfSpan(client), requestSpan.trace.spanId);
    assert.equal(parentOfSpan(served), client.spanContext().spanId);
    assert.equal(served.parentSpanContext?.isRemote, true, 'it crossed a process boundary');
    assert.deepEqual(served.attributes, { 'actorrt.pool': 'p', 'actorrt.request_id': 'r1' });
    const actor = seen.at(-1)?.trace ?? assert.fail('the actor got the request');
    assert.deepEqual([actor.traceId, actor.spanId, actor.parentSpanId, actor.tracestate, actor.sampled],
      [TRACE, served.spanContext().spanId, client.spanContext().spanId, 'a=1', true]);
  });

  test('without an SDK the ids are made here and nothing is recorded', () => {
    trace.disable();
    lookUpTracer();
    try {
      const opened = openSpan('x', SpanKind.SERVER, undefined);
      assert.equal(opened.span, undefined);
      assert.match(opened.trace.spanId, /^[0-9a-f]{16}$/);
      assert.deepEqual(childTrace(opened.trace.asParent()).parentSpanId, opened.trace.spanId);
    } finally {
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
      lookUpTracer();
    }
    assert.equal(spans().length, 0);
  });
});
