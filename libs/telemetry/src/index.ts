export { getTracer, initTelemetry, type Telemetry, type TelemetryOptions, type TracesExporter } from './tracing.js';
// Trace context in NATS headers lives with the NATS code, in @aigc/bus.
export { extractFromMetadata, injectIntoMetadata, type MetadataLike } from './propagation.js';
export {
  createMetricsRegistry,
  grpcServerMetrics,
  startMetricsServer,
  type GrpcServerMetrics,
  type MetricsServer,
} from './metrics.js';
export { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
