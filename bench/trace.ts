import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { clientResolver } from '../runtime/worker/client-address.js';
import { Exchange } from '../runtime/worker/exchange.js';
import { LOAD_GENERATOR, median } from './load.js';
import { report, sideBySide, type Row } from './http.js';
import { ROOT, startActorrt } from './servers.js';

/** An SDK that makes every span (AlwaysOn sampling) and exports none: the cost of span work itself. */
const SDK_SETUP = `import { trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
trace.setGlobalTracerProvider(new BasicTracerProvider());
`;

/**
 * Issue 22's scenario: the inline route of examples/hello with this build's trace context on (no
 * OpenTelemetry SDK), with `http.accessLog` on, and with an SDK registered that makes spans and
 * exports none, side by side; with BENCH_BASELINE=<a build without trace context> the first row is
 * that build ("plain") and every ratio is against it. Also the trace step alone, in process.
 */
export async function traceScenario(workers: number, rounds: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-bench-trace-'));
  try {
    const hello = join(ROOT, 'examples', 'hello', 'actorrt.yml');
    const text = readFileSync(hello, 'utf8').replaceAll('./actors/', `${join(ROOT, 'examples', 'hello', 'actors')}/`);
    const plain = join(dir, 'plain.yml');
    const logged = join(dir, 'access.yml');
    writeFileSync(plain, text);
    writeFileSync(logged, text.replace(/^http:\n/m, 'http:\n  accessLog: true\n'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'otel.mjs'), SDK_SETUP);
    const sdk = { NODE_OPTIONS: `--import=${pathToFileURL(join(dir, 'otel.mjs')).href}` };
    // The access log goes to a file, as to journald or a log shipper: a pipe read by this busy
    // process fills up, and the workers' writes then wait for it (p99 ~100 ms in a trial run).
    const lines = openSync(join(dir, 'access.log'), 'a');
    const baseline = process.env['BENCH_BASELINE'];
    const path = '/hello/bench';
    // Measured first, in a quiet process: right after the load runs it read 3-4x higher (867 ns against 235 ns in one run).
    const step = traceStepNs();
    const rows = await sideBySide([
      ...(baseline === undefined || baseline === '' ? [] : [{ name: `plain: baseline build (${workers}w)`, start: () => startActorrt(plain, workers, baseline), path }]),
      { name: `traced, no SDK (${workers}w)`, start: () => startActorrt(plain, workers), path },
      { name: `access log on, to a file (${workers}w)`, start: () => startActorrt(logged, workers, ROOT, {}, lines), path },
      { name: `SDK registered, no export (${workers}w)`, start: () => startActorrt(plain, workers, ROOT, sdk), path },
    ], rounds, seconds, 64);
    report(`trace context, access log and spans on the inline route, GET /hello/:name, ${LOAD_GENERATOR} -c64, ${seconds}s x ${rounds}`
      + `${baseline === undefined || baseline === '' ? ' (set BENCH_BASELINE=<a build of the previous main> for the plain row)' : ''}`, rows);
    const cpu = (row: Row | undefined): number => median((row?.runs ?? []).map((r) => r.cpuUs));
    const traced = rows.find((r) => r.name.startsWith('traced'));
    process.stdout.write(`trace step alone (incoming traceparent parsed, span id made, req.trace built; no SDK, no access log): ${step.toFixed(0)} ns per request, `
      + `${((step / 1000 / cpu(traced)) * 100).toFixed(2)}% of the traced row's CPU per request\n`);
    closeSync(lines);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Nanoseconds per Exchange.open without an SDK or access log, for a request carrying a traceparent (median of 5 rounds of 200k). */
function traceStepNs(): number {
  const req = {
    method: 'GET', url: '/hello/bench', headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', host: 'x' }, socket: {},
  } as unknown as IncomingMessage;
  const res = {} as ServerResponse;
  const clients = clientResolver(false);
  const rounds: number[] = [];
  let sink = 0;
  for (let round = 0; round < 6; round++) {
    const n = 200_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) sink += Exchange.open(req, res, 'id', clients, undefined).trace.spanId.length;
    if (round > 0) rounds.push(((performance.now() - t) * 1e6) / n); // the first round warms up
  }
  if (sink === 0) throw new Error('unreachable: keeps the result live');
  return median(rounds);
}
