export { getTracer, initTelemetry, type Telemetry, type TelemetryOptions, type TracesExporter } from './tracing.js';
export {
  extractFromHeaders,
  extractFromMetadata,
  injectIntoHeaders,
  injectIntoMetadata,
  type HeadersLike,
  type MetadataLike,
} from './propagation.js';
export {
  createMetricsRegistry,
  grpcServerMetrics,
  startMetricsServer,
  type GrpcServerMetrics,
  type MetricsServer,
} from './metrics.js';
export { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
