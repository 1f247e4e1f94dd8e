import { whenUsed } from '../when-used.js';
import type {
  Attributes, Context, Span, SpanKind as OtelSpanKind, SpanStatusCode as OtelStatusCode, Tracer,
} from '@opentelemetry/api';
import type { RequestTrace } from '../../actors/index.js';
import { VERSION } from '../version.js';
import { childTrace, Trace, type TraceParent } from './trace-context.js';

/**
 * @opentelemetry/api (CommonJS) is required only once an SDK is found registered: without one
 * (most processes) it is never loaded, which saved every front worker and pool process ~14 ms of
 * CPU at start-up (measured, docs/benchmarks.md cold-start). An SDK registers through the API's
 * global, keyed by its major version (1), so the global says whether there is one.
 */
const api = whenUsed<typeof import('@opentelemetry/api')>('@opentelemetry/api');
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** Whether some copy of @opentelemetry/api 1.x has a tracer provider registered (it registers `trace` in its global then). */
function providerRegistered(): boolean {
  const global = (globalThis as Record<symbol, unknown>)[API_GLOBAL];
  return global !== null && typeof global === 'object' && (global as { trace?: unknown }).trace !== undefined;
}

/** The API's SpanKind values, without loading the API for them. */
export type SpanKind = OtelSpanKind;
export const SpanKind: {
  readonly INTERNAL: OtelSpanKind.INTERNAL; readonly SERVER: OtelSpanKind.SERVER; readonly CLIENT: OtelSpanKind.CLIENT;
  readonly PRODUCER: OtelSpanKind.PRODUCER; readonly CONSUMER: OtelSpanKind.CONSUMER;
} = { INTERNAL: 0, SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 };
/** The API's SpanStatusCode values, likewise. */
export const SpanStatusCode: { readonly UNSET: OtelStatusCode.UNSET; readonly OK: OtelStatusCode.OK; readonly ERROR: OtelStatusCode.ERROR } = { UNSET: 0, OK: 1, ERROR: 2 };
/** W3C trace flags (the API's TraceFlags). */
const SAMPLED = 1;

/**
 * OpenTelemetry spans, when the process registered an SDK (`NODE_OPTIONS='--import ./otel.mjs'`,
 * docs/operations.md), over the ids trace-context.ts otherwise makes itself: `req.trace`, the
 * forwarded traceparent and the spans show the same ids, whichever made them.
 *
 * Whether an SDK is registered is looked up once per process (`tracer()`), so that without one no
 * span work is done at all: no no-op span, no context object. The API's own no-op path still costs
 * ~0.3 us per request for the spans of one request (a NonRecordingSpan and a context each).
 */

/** undefined: not looked up yet; null: no SDK in this process. */
let found: Tracer | null | undefined;

/** The registered SDK's tracer, or undefined when none is registered (looked up at the first call). */
export function tracer(): Tracer | undefined {
  if (found === undefined) found = providerRegistered() ? lookUpTracer() : null;
  return found ?? undefined;
}

/**
 * Look the registered tracer provider up again: a test that registers one, or a process whose SDK
 * registered after its first request. The global provider is the API's ProxyTracerProvider, whose
 * getDelegateTracer answers undefined while no SDK set a delegate; duck-typed, since the SDK may
 * have registered through another copy of @opentelemetry/api (a major version shares one global).
 */
export function lookUpTracer(): Tracer | null {
  const otel = api().trace;
  const provider = otel.getTracerProvider() as ReturnType<typeof otel.getTracerProvider> & { getDelegateTracer?: (name: string, version?: string) => Tracer | undefined };
  found = typeof provider.getDelegateTracer === 'function' ? provider.getDelegateTracer('actorrt', VERSION) ?? null : provider.getTracer('actorrt', VERSION);
  return found;
}

/** How long a stopping process waits for its spans to be exported. */
export const SPAN_FLUSH_MS = 2000;

/**
 * Hand the spans the SDK still holds (a BatchSpanProcessor's queue) to its exporter: a process that
 * stops calls it before it exits, since process.exit() runs no asynchronous work after it. Bounded
 * by `timeout` ms; without an SDK it resolves at once. Never rejects (an exporter's failure is the
 * SDK's to report).
 */
export async function flushSpans(timeout: number): Promise<void> {
  if (tracer() === undefined) return;
  const provider = api().trace.getTracerProvider() as { getDelegate?: () => unknown; forceFlush?: () => Promise<void> };
  const sdk = (typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider) as { forceFlush?: () => Promise<void> };
  if (typeof sdk.forceFlush !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([sdk.forceFlush().catch(() => undefined), new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout); })]);
  clearTimeout(timer);
}

/** A span and the trace context an actor or a forwarded call sees for it; `span` is undefined without an SDK. */
export interface Opened {
  readonly trace: Trace;
  readonly span: Span | undefined;
}

/** `trace` as the parent of what it calls (`remote`: what crossed a process boundary). */
export function parentOf(trace: RequestTrace, remote = false): TraceParent {
  return { traceId: trace.traceId, spanId: trace.spanId, sampled: trace.sampled, tracestate: trace.tracestate, remote };
}

/**
 * Start span `name` of `kind` as a child of `parent` (the root of a new trace when undefined). With
 * an SDK its ids are the SDK's (and its sampler decides `sampled`); without one they are made here
 * and no span exists.
 */
export function openSpan(name: string, kind: SpanKind, parent: TraceParent | undefined, attributes?: Attributes): Opened {
  const t = tracer();
  if (t === undefined) return { trace: childTrace(parent), span: undefined };
  const span = t.startSpan(name, attributes === undefined ? { kind } : { kind, attributes }, parent === undefined ? api().ROOT_CONTEXT : contextOf(parent));
  const sc = span.spanContext();
  return { trace: new Trace(sc.traceId, sc.spanId, parent?.spanId, (sc.traceFlags & SAMPLED) !== 0, parent?.tracestate), span };
}

/** An OpenTelemetry context whose span is `parent`, for starting children of it. */
export function contextOf(parent: TraceParent): Context {
  const { trace: otel, ROOT_CONTEXT, TraceFlags, createTraceState } = api();
  return otel.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: parent.remote,
    ...(parent.tracestate === undefined ? {} : { traceState: createTraceState(parent.tracestate) }),
  });
}

/**
 * Run `fn` with `trace` as the active span, so spans that instrumentation libraries start inside
 * it (pg, redis, undici in the user's SDK set-up) become its children. Without an SDK, `fn` is
 * just called.
 */
export function withTrace<T>(trace: RequestTrace, fn: () => T): T {
  if (tracer() === undefined) return fn();
  return api().context.with(contextOf(parentOf(trace)), fn);
}

/** End `span` as failed: `error.type` is the error's code (ACTORRT_E_*) or its class name. */
export function endFailed(span: Span, err: unknown): void {
  const type = errorType(err);
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : type });
  span.end();
}

/** What `error.type` says for `err`: its stable code when it has one. */
export function errorType(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.constructor.name : '_OTHER';
}

/**
 * End `span` when `outcome` settles (failed if it rejects) and hand `outcome` on; without a span,
 * `outcome` itself. `done` sets what the value tells (a status code) first.
 */
export function endWith<T>(span: Span | undefined, outcome: Promise<T>, done?: (span: Span, value: T) => void): Promise<T> {
  if (span === undefined) return outcome;
  return outcome.then((value) => {
    done?.(span, value);
    span.end();
    return value;
  }, (err: unknown) => {
    endFailed(span, err);
    throw err;
  });
}
