import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context, Span, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { headers as createHeaders, Match } from '@nats-io/nats-core';
import type { MsgHdrs } from '@nats-io/nats-core';

/** Name of the tracer the bus creates its spans with. */
export const TRACER_NAME = '@aigc/bus';

/** Writes propagation fields (`traceparent`, `tracestate`, baggage) into NATS message headers. */
export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

/** Reads propagation fields from NATS message headers, ignoring case as other clients may canonicalize keys. */
export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys(carrier) {
    return carrier ? carrier.keys() : [];
  },
  get(carrier, key) {
    if (!carrier || !carrier.has(key, Match.IgnoreCase)) return undefined;
    return carrier.get(key, Match.IgnoreCase);
  },
};

/** Builds message headers from plain fields plus the active trace context, so one trace spans the NATS hop. */
export function headersWithTrace(fields?: Record<string, string>, ctx: Context = context.active()): MsgHdrs {
  const hdrs = createHeaders();
  for (const [key, value] of Object.entries(fields ?? {})) hdrs.set(key, value);
  propagation.inject(ctx, hdrs, natsHeaderSetter);
  return hdrs;
}

/** The trace context a message's headers carry (the root context when they carry none). */
export function extractTrace(hdrs: MsgHdrs | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, hdrs, natsHeaderGetter);
}

/**
 * Runs `fn` inside a CONSUMER span that is a child of the context the message headers carry; ends the
 * span and records a thrown error on it. Shared by core subscriptions and durable consumers.
 */
export async function withConsumerSpan<T>(
  name: string,
  hdrs: MsgHdrs | undefined,
  attributes: Record<string, string | number | boolean>,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = extractTrace(hdrs);
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}
