import { context, propagation, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';

/** The part of grpc-js `Metadata` the propagators need; avoids a dependency on grpc-js here. */
export interface MetadataLike {
  get(key: string): Array<string | Buffer>;
  set(key: string, value: string): void;
  getMap(): Record<string, unknown>;
}

const metadataSetter: TextMapSetter<MetadataLike> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const metadataGetter: TextMapGetter<MetadataLike> = {
  get: (carrier, key) => {
    const values = carrier.get(key).map(String);
    return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  },
  keys: (carrier) => Object.keys(carrier.getMap()),
};

/** Writes the trace context (`traceparent`, `tracestate`) of `ctx` into gRPC metadata. */
export function injectIntoMetadata(metadata: MetadataLike, ctx: Context = context.active()): void {
  propagation.inject(ctx, metadata, metadataSetter);
}

/** Reads the caller's trace context out of gRPC metadata, on top of the active context. */
export function extractFromMetadata(metadata: MetadataLike): Context {
  return propagation.extract(context.active(), metadata, metadataGetter);
}
