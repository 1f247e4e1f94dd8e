// OpenTelemetry for an actorrt instance: every process (the primary, each front worker, each pool
// process) imports this file before anything else, through NODE_OPTIONS, which forked processes
// inherit:
//
//   NODE_OPTIONS="--import ./otel.mjs" npx actorrt start
//
// It registers a tracer provider; actorrt finds it when each process starts and emits its spans
// (docs/operations.md, "Traces and logs"). Spans go to an OTLP/HTTP collector (Jaeger, Tempo, the
// OpenTelemetry Collector) at OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318).
//
// Packages (your project's, not actorrt's):
//   npm install @opentelemetry/api @opentelemetry/sdk-trace-node @opentelemetry/exporter-trace-otlp-http @opentelemetry/resources
import { NodeTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'actorrt-otel-example' }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
});
// Global tracer provider, AsyncLocalStorage context (so spans that instrumentation libraries start
// inside an actor are children of its request's) and the W3C propagator.
provider.register();
// What is still batched when a process stops (a reload replacing it, actorrt stop) is flushed by
// actorrt itself before the process exits.
