import { context, trace } from '@opentelemetry/api';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createMetricsRegistry,
  extractFromMetadata,
  grpcServerMetrics,
  InMemorySpanExporter,
  initTelemetry,
  injectIntoMetadata,
  SimpleSpanProcessor,
  startMetricsServer,
} from './index.js';

const exporter = new InMemorySpanExporter();
const telemetry = initTelemetry({ serviceName: 'spec', spanProcessors: [new SimpleSpanProcessor(exporter)] });
afterAll(() => telemetry.shutdown());

describe('trace propagation', () => {
  it('carries a span across gRPC metadata so the remote side continues the same trace', () => {
    const tracer = telemetry.tracer('caller');
    const metadata = new Metadata();
    const parent = tracer.startSpan('call');
    injectIntoMetadata(metadata, trace.setSpan(context.active(), parent));
    parent.end();
    expect(String(metadata.get('traceparent')[0])).toContain(parent.spanContext().traceId);

    const remote = extractFromMetadata(metadata);
    const child = tracer.startSpan('handle', {}, remote);
    child.end();
    expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
    const finished = exporter.getFinishedSpans().find((s) => s.name === 'handle');
    expect(finished?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  });

  it('reuses the process-wide provider when a second service initialises telemetry', () => {
    const second = initTelemetry({ serviceName: 'other' });
    second.tracer('other').startSpan('from-second').end();
    expect(exporter.getFinishedSpans().some((s) => s.name === 'from-second')).toBe(true);
  });
});

describe('metrics endpoint', () => {
  it('serves the registry in Prometheus text format at /metrics, and 404 elsewhere', async () => {
    const registry = createMetricsRegistry('spec');
    const grpc = grpcServerMetrics(registry);
    grpc.handled.inc({ grpc_service: 'aigc.v1.TextService', grpc_method: 'Generate', grpc_code: 'OK' });
    expect(grpcServerMetrics(registry).handled).toBe(grpc.handled);
    const server = await startMetricsServer({ registry, port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(body).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="Generate"[^}]*\} 1/);
      expect(body).toContain('process_cpu_user_seconds_total');
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
