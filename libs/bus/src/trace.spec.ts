import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createHarness, waitFor } from '@aigc/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMERS, STREAMS, SUBJECTS, usageSubject } from './catalogue.js';
import { connectBus } from './connect.js';
import type { Bus } from './connect.js';
import { consumeDurable } from './consume.js';
import { provision } from './provision.js';
import { publishCore, publishEvent, subscribeCore } from './publish.js';

describe('trace context across NATS', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const h = createHarness();
  let bus: Bus;

  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    context.setGlobalContextManager(contextManager);
    const nats = await h.nats();
    bus = await connectBus({ servers: nats.url, name: 'trace-spec' });
    h.onClose(() => bus.drain());
    await provision(bus);
  });
  afterAll(async () => {
    await h.close();
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('makes the durable consumer span a child of the publishing span', async () => {
    const tracer = trace.getTracer('spec');
    const publisher = tracer.startSpan('orchestrator.task');
    await context.with(trace.setSpan(context.active(), publisher), () =>
      publishEvent(bus, usageSubject('image'), new TextEncoder().encode('{}'), { msgId: 'traced-1' }),
    );
    publisher.end();

    let activeInHandler: string | undefined;
    let ctxSpan: string | undefined;
    const stop = new AbortController();
    const done = consumeDurable(bus, {
      stream: STREAMS.usage.name,
      consumer: CONSUMERS.billingLedger.name,
      signal: stop.signal,
      handler: async (_msg, ctx) => {
        activeInHandler = trace.getActiveSpan()?.spanContext().spanId;
        ctxSpan = ctx.span.spanContext().spanId;
      },
    });
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.CONSUMER), {
      message: 'a finished consumer span',
    });
    stop.abort();
    await done;

    const consumer = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(consumer.name).toBe('process aigc.usage.image');
    expect(consumer.instrumentationScope.name).toBe('@aigc/bus');
    expect(consumer.spanContext().traceId).toBe(publisher.spanContext().traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(publisher.spanContext().spanId);
    expect(consumer.parentSpanContext?.isRemote).toBe(true);
    expect(activeInHandler).toBe(consumer.spanContext().spanId);
    expect(ctxSpan).toBe(consumer.spanContext().spanId);
    expect(consumer.attributes['messaging.destination.name']).toBe('aigc.usage.image');
  });

  it('records a failing handler on its span', async () => {
    exporter.reset();
    await publishEvent(bus, usageSubject('text'), new TextEncoder().encode('{}'), { msgId: 'traced-2' });
    let calls = 0;
    const stop = new AbortController();
    const done = consumeDurable(bus, {
      stream: STREAMS.usage.name,
      consumer: CONSUMERS.billingLedger.name,
      signal: stop.signal,
      nakDelayMs: 100,
      handler: async () => {
        if (++calls === 1) throw new Error('ledger down');
      },
    });
    await waitFor(() => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER).length === 2, {
      message: 'two consumer spans',
    });
    stop.abort();
    await done;
    const [failed, retried] = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER);
    expect(failed?.status.message).toBe('ledger down');
    expect(failed?.events.map((e) => e.name)).toContain('exception');
    expect(retried?.attributes['messaging.message.delivery_count']).toBe(2);
    expect(retried?.parentSpanContext?.spanId).toBe(failed?.parentSpanContext?.spanId);
  });

  it('continues the trace over core subjects', async () => {
    exporter.reset();
    const seen: Array<{ traceId: string; parent: string | undefined }> = [];
    const sub = subscribeCore(bus, SUBJECTS.lexiconChanged.name, (_msg, span) => {
      seen.push({ traceId: span.spanContext().traceId, parent: trace.getActiveSpan()?.spanContext().spanId });
    });
    await bus.nc.flush();
    const admin = trace.getTracer('spec').startSpan('lexicon.publish');
    context.with(trace.setSpan(context.active(), admin), () =>
      publishCore(bus, SUBJECTS.lexiconChanged.name, new TextEncoder().encode('v2')),
    );
    admin.end();
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.CONSUMER), {
      message: 'a core consumer span',
    });
    sub.unsubscribe();
    const consumer = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(seen[0]?.traceId).toBe(admin.spanContext().traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(admin.spanContext().spanId);
  });
});
