import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { RequestTrace } from '../../actors/index.js';
import { eventually, logsWith, ROOT, tempDir } from '../helpers.js';
import { call, runCli, startInstance, type Instance } from './instance.js';

// W3C Trace Context and OpenTelemetry spans through the real CLI: every process (primary, front
// worker, pool process) imports an SDK set-up through NODE_OPTIONS, as docs/operations.md says,
// whose processor appends each finished span to a file per pid; the chain of spans is read back
// across those files.

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

/** An SDK set-up as a user writes one, exporting to `spans-<pid>.jsonl` in SPANS_DIR. */
const SETUP = `import { appendFileSync } from 'node:fs';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
const file = process.env.SPANS_DIR + '/spans-' + process.pid + '.jsonl';
const exporter = {
  export(spans, done) {
    for (const s of spans) {
      const { traceId, spanId } = s.spanContext();
      appendFileSync(file, JSON.stringify({ name: s.name, kind: s.kind, traceId, spanId, parentSpanId: s.parentSpanContext?.spanId, attributes: s.attributes, pid: process.pid }) + '\\n');
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
`;

/** What an actor answers: the trace it sees, where it runs, and (the inline one) what the isolated one saw when asked. */
interface Seen { readonly trace: RequestTrace; readonly pid: number; readonly asked?: Seen; readonly helped?: Seen }

const ACTORS = {
  'actors/inline.mjs': `export default { receive: async (state, req, ctx) => {
    ctx.log.info({ step: 'asking' }, 'asking the isolated pool');
    return { trace: req.trace, pid: ctx.self.pid, asked: await ctx.ask('iso', {}), helped: await ctx.ask('helper', {}) };
  } };
`,
  'actors/iso.mjs': 'export default { receive: (state, req, ctx) => ({ trace: req.trace, pid: ctx.self.pid }) };\n',
  'actors/helper.mjs': 'export default { receive: (state, req, ctx) => ({ trace: req.trace, pid: ctx.self.pid }) };\n',
};

interface SpanLine {
  readonly name: string;
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly attributes: Record<string, unknown>;
  readonly pid: number;
}

/** A project in a temp folder (its node_modules the checkout's, so the set-up's imports resolve) with a test upstream that records what it is sent. */
async function project(t: { after(fn: () => unknown): void } | undefined, accessLog: boolean): Promise<{ dir: string; topology: string; upstream: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const dir = tempDir('tracing');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'actors'));
  for (const [name, text] of Object.entries(ACTORS)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'otel.mjs'), SETUP);
  const upstream: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => { upstream.push(req.headers); res.end('up'); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = (): Promise<void> => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  t?.after(close);
  const topology = join(dir, 'actorrt.yml');
  writeFileSync(topology, `version: 1
http: { port: 0, host: 127.0.0.1, workers: 1, accessLog: ${accessLog} }
resources:
  upstream: { type: http, origins: ["http://127.0.0.1:${(server.address() as AddressInfo).port}"] }
pools:
  inline: { actor: ./actors/inline.mjs, size: 1 }
  helper: { actor: ./actors/helper.mjs, size: 1 }
  iso: { actor: ./actors/iso.mjs, processes: 1, size: 1 }
routes:
  - match: { method: GET, path: /inline }
    pool: inline
  - match: { method: GET, path: /iso/:x }
    pool: iso
  - match: { path: /up/* }
    proxy: upstream
`);
  return { dir, topology, upstream, close };
}

/** Every span the processes exported so far. */
function spansIn(dir: string): SpanLine[] {
  return readdirSync(dir).filter((f) => f.startsWith('spans-')).flatMap((f) =>
    readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as SpanLine));
}

describe('with an OpenTelemetry SDK registered in every process (NODE_OPTIONS=--import)', () => {
  let app: Instance;
  let setup: Awaited<ReturnType<typeof project>>;
  before(async () => {
    setup = await project(undefined, true);
    app = await startInstance(setup.topology, [], undefined, {
      NODE_OPTIONS: `--import=${pathToFileURL(join(setup.dir, 'otel.mjs')).href}`, SPANS_DIR: setup.dir,
    });
  });
  after(async () => {
    await app?.stop();
    await setup?.close();
  });

  /** The span with id `id`, once exported. */
  async function span(id: string | undefined, what: string): Promise<SpanLine> {
    assert.ok(id !== undefined, `${what}: an id`);
    let found: SpanLine | undefined;
    await eventually(`${what} (span ${id}) exported`, () => (found = spansIn(setup.dir).find((s) => s.spanId === id)) !== undefined, 10_000);
    return found as SpanLine;
  }

  test('request -> dispatch -> pool-side span chain across processes, under the incoming traceparent; the actor sees the pool-side span', async () => {
    const answer = await call(`${app.url}/iso/7`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc' } });
    assert.equal(answer.status, 200, answer.text);
    const seen = answer.json as Seen;
    assert.equal(seen.trace.traceId, TRACE);
    assert.equal(seen.trace.tracestate, 'vendor=abc');
    const served = await span(seen.trace.spanId, 'the pool-side span');
    assert.equal(served.name, 'serve iso');
    assert.equal(served.kind, 1, 'SERVER');
    assert.equal(served.pid, seen.pid, 'in the pool process');
    const dispatch = await span(served.parentSpanId, 'the dispatch span');
    assert.equal(dispatch.name, 'dispatch iso');
    assert.equal(dispatch.kind, 2, 'CLIENT');
    assert.equal(seen.trace.parentSpanId, dispatch.spanId);
    assert.notEqual(dispatch.pid, served.pid, 'in the front worker');
    const request = await span(dispatch.parentSpanId, 'the request span');
    assert.deepEqual([request.name, request.kind, request.traceId, request.parentSpanId, request.pid], ['GET /iso/:x', 1, TRACE, PARENT, dispatch.pid]);
    assert.equal(request.attributes['http.route'], '/iso/:x');
    assert.equal(request.attributes['url.path'], '/iso/7');
    assert.equal(request.attributes['http.response.status_code'], 200);
    assert.equal(request.attributes['server.port'], Number(new URL(app.url).port));
    const requestId = answer.headers['x-request-id'];
    await eventually('the access log line', () => logsWith(app.stderr(), { event: 'access', requestId: String(requestId) }).length === 1);
    const [line] = logsWith(app.stderr(), { event: 'access', requestId: String(requestId) });
    assert.deepEqual([line?.['route'], line?.['status'], line?.['traceId'], line?.['method'], line?.['client']], ['/iso/:x', 200, TRACE, 'GET', '127.0.0.1']);
  });

  test('an inline actor sees the request span; what it asks of an isolated pool joins the trace under it; its ctx.log lines carry the trace id', async () => {
    const answer = await call(`${app.url}/inline`);
    assert.equal(answer.status, 200, answer.text);
    const seen = answer.json as Seen;
    const request = await span(seen.trace.spanId, 'the request span');
    assert.equal(request.name, 'GET /inline');
    assert.equal(request.parentSpanId, undefined, 'no traceparent came: a new trace');
    const asked = seen.asked?.trace ?? assert.fail('the ask answered');
    assert.equal(asked.traceId, seen.trace.traceId);
    const dispatch = await span(asked.parentSpanId, 'the ask dispatch span');
    assert.deepEqual([dispatch.name, dispatch.parentSpanId], ['dispatch iso', seen.trace.spanId]);
    // An inline pool asked: an `ask` span of its own, a child of the asker's, whose ids the asked actor sees.
    const helped = seen.helped?.trace ?? assert.fail('the inline ask answered');
    const ask = await span(helped.spanId, 'the inline ask span');
    assert.deepEqual([ask.name, ask.kind, ask.parentSpanId, helped.parentSpanId, helped.traceId], ['ask helper', 0, seen.trace.spanId, seen.trace.spanId, seen.trace.traceId]);
    const logged = logsWith(app.stderr(), { step: 'asking', traceId: seen.trace.traceId });
    assert.equal(logged.length, 1, 'the actor line carries the request trace id');
    assert.equal(logged[0]?.['requestId'], answer.headers['x-request-id']);
  });

  test('a proxy route forwards traceparent naming its upstream CLIENT span, a child of the request span, and the tracestate as it came', async () => {
    const before = setup.upstream.length;
    const answer = await call(`${app.url}/up/x`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc,other=1' } });
    assert.equal(answer.status, 200, answer.text);
    const sent = setup.upstream[before] ?? assert.fail('the upstream got the request');
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(sent.traceparent));
    assert.ok(m !== null, String(sent.traceparent));
    assert.equal(m[1], TRACE);
    assert.equal(sent.tracestate, 'vendor=abc,other=1');
    const client = await span(m[2], 'the upstream span');
    assert.deepEqual([client.name, client.kind, client.attributes['server.address'], client.attributes['http.response.status_code']], ['GET', 2, '127.0.0.1', 200]);
    const request = await span(client.parentSpanId, 'the request span');
    assert.deepEqual([request.name, request.parentSpanId], ['GET /up/*', PARENT]);
  });

  test('an invalid traceparent starts a new trace, and its tracestate is not passed on', async () => {
    const before = setup.upstream.length;
    const answer = await call(`${app.url}/up/y`, { headers: { traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01`, tracestate: 'vendor=abc' } });
    assert.equal(answer.status, 200, answer.text);
    const sent = setup.upstream[before] ?? assert.fail('the upstream got the request');
    assert.match(String(sent.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.ok(!String(sent.traceparent).includes(TRACE) && !String(sent.traceparent).includes(TRACE.toUpperCase()));
    assert.equal(sent.tracestate, undefined);
  });
});

test('without an SDK, req.trace still carries the incoming trace, the pool side is a child of the front span, and proxies forward it', async (t) => {
  const setup = await project(t, false);
  const app = await startInstance(setup.topology, ['--no-watch'], t);
  const answer = await call(`${app.url}/iso/1`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } });
  const seen = answer.json as Seen;
  assert.equal(seen.trace.traceId, TRACE);
  assert.equal(seen.trace.sampled, true);
  assert.match(seen.trace.parentSpanId ?? '', /^[0-9a-f]{16}$/);
  assert.notEqual(seen.trace.parentSpanId, PARENT, 'the front worker span is between the client and the pool');
  const up = await call(`${app.url}/up/z`, { headers: { traceparent: `00-${TRACE}-${PARENT}-00` } });
  assert.equal(up.status, 200);
  const forwarded = String(setup.upstream.at(-1)?.traceparent);
  assert.match(forwarded, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  assert.ok(!forwarded.includes(PARENT), 'the front span is the upstream call parent');
  assert.equal(spansIn(setup.dir).length, 0, 'no SDK, no spans');
  assert.equal(logsWith(app.stderr(), { event: 'access' }).length, 0, 'the access log is off by default');

  // Turned on by a reload, live: the next request is logged, with its user agent when asked.
  writeFileSync(setup.topology, readFileSync(setup.topology, 'utf8').replace('accessLog: false', 'accessLog: { userAgent: true }'));
  const reload = await runCli(['reload', '--pid-file', app.pidFile]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /http\.accessLog: false -> \{"userAgent":true\}/);
  const logged = await call(`${app.url}/nowhere`, { headers: { 'user-agent': 'probe/2' } });
  assert.equal(logged.status, 404);
  await eventually('the 404 is logged', () => logsWith(app.stderr(), { event: 'access', status: 404 }).length === 1);
  const [line] = logsWith(app.stderr(), { event: 'access', status: 404 });
  assert.deepEqual([line?.['path'], line?.['route'], line?.['userAgent'], line?.['requestId']], ['/nowhere', undefined, 'probe/2', logged.headers['x-request-id']]);
  await app.stop();
});
