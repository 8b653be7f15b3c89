import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** Where finished spans go. `none` still creates and propagates spans (so trace ids reach logs). */
export type TracesExporter = 'none' | 'otlp' | 'console';

/** Options of {@link initTelemetry}. */
export interface TelemetryOptions {
  serviceName: string;
  exporter?: TracesExporter;
  /** OTLP/HTTP endpoint of a collector, e.g. http://otel-collector:4318. */
  otlpEndpoint?: string;
  /** Extra processors, e.g. a SimpleSpanProcessor over an InMemorySpanExporter in tests. */
  spanProcessors?: SpanProcessor[];
}

/** A handle on the process-wide tracer provider. */
export interface Telemetry {
  /** The tracer a component should use; its name is the instrumentation scope of its spans. */
  tracer(name?: string): Tracer;
  /** Flushes pending spans and stops exporting. Safe to call more than once. */
  shutdown(): Promise<void>;
}

let provider: NodeTracerProvider | undefined;
let shutdownPromise: Promise<void> | undefined;

/**
 * Registers the process-wide tracer provider, W3C trace-context propagation and the async
 * context manager. One process has one provider: when several services share a process (the
 * in-process integration tests), the first call wins and later calls reuse it.
 */
export function initTelemetry(options: TelemetryOptions): Telemetry {
  if (!provider) {
    const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
    if (options.exporter === 'otlp') {
      const url = options.otlpEndpoint ? `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` : undefined;
      processors.push(new BatchSpanProcessor(new OTLPTraceExporter(url ? { url } : {})));
    } else if (options.exporter === 'console') {
      processors.push(new BatchSpanProcessor(new ConsoleSpanExporter()));
    }
    provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
      spanProcessors: processors,
    });
    provider.register();
    shutdownPromise = undefined;
  }
  const current = provider;
  return {
    tracer: (name = options.serviceName) => trace.getTracer(name),
    shutdown: () => {
      if (provider !== current) return shutdownPromise ?? Promise.resolve();
      shutdownPromise ??= current.shutdown().catch(() => undefined);
      return shutdownPromise;
    },
  };
}

/** A tracer from whatever provider is registered (a no-op one before {@link initTelemetry}). */
export function getTracer(name: string): Tracer {
  return trace.getTracer(name);
}
