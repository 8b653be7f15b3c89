import { once } from 'node:events';
import {
  Metadata,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedHandleCall,
  status as Status,
} from '@grpc/grpc-js';
import { context, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { extractFromMetadata, type GrpcServerMetrics } from '@aigc/telemetry';
import { callDeadline, callSignal, MetadataKeys, metadataValue, requestIdFrom, type CallContext } from './call-context.js';
import { ServiceError } from './errors.js';
import type { Logger } from './logger.js';

/** A unary RPC as an async function. */
export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;
/** A server-streaming RPC: yield each response; returning ends the stream. */
export type ServerStreamHandler<Req, Res> = (request: Req, ctx: CallContext) => AsyncIterable<Res>;
/** A client-streaming RPC: consume the requests, return one response. */
export type ClientStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, ctx: CallContext) => Promise<Res>;
/** A bidirectional RPC: consume requests, yield responses. */
export type BidiStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, ctx: CallContext) => AsyncIterable<Res>;

/** The shape of one method in a ts-proto grpc-js service definition. */
export interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (value: Buffer) => unknown;
  readonly responseSerialize: (value: never) => Buffer;
}

type Req<M> = M extends { requestDeserialize: (value: Buffer) => infer R } ? R : never;
type Res<M> = M extends { responseSerialize: (value: infer R) => Buffer } ? R : never;

/** The async handler a method definition calls for, chosen by its streaming flags. */
export type HandlerFor<M> = M extends { requestStream: true; responseStream: true }
  ? BidiStreamHandler<Req<M>, Res<M>>
  : M extends { requestStream: true }
    ? ClientStreamHandler<Req<M>, Res<M>>
    : M extends { responseStream: true }
      ? ServerStreamHandler<Req<M>, Res<M>>
      : UnaryHandler<Req<M>, Res<M>>;

/** Async handlers for every method of a service definition. */
export type ServiceHandlers<D> = { [K in keyof D]: HandlerFor<D[K]> };

/** What the adapters need from the host: shared signal, logger, tracer, metrics, in-flight tracking. */
export interface AdapterEnvironment {
  readonly shutdown: AbortSignal;
  readonly logger: Logger;
  readonly tracer: Tracer;
  readonly metrics: GrpcServerMetrics;
  /** Registers an in-flight call; the returned function marks it done. */
  track(): () => void;
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * Wraps an async handler as a grpc-js handler: one CallContext and AbortSignal per call, a
 * SERVER span continuing the caller's trace, metrics, and the single mapping of errors to
 * gRPC statuses (unknown errors become INTERNAL with a generic message; the cause is logged).
 */
export function adaptHandler(method: MethodShape, handler: unknown, env: AdapterEnvironment): UntypedHandleCall {
  const [service = '', name = ''] = method.path.slice(1).split('/');
  const labels = { grpc_service: service, grpc_method: name };

  const begin = (call: AnyCall) => {
    env.metrics.started.inc(labels);
    const done = env.track();
    const stopTimer = env.metrics.handlingSeconds.startTimer(labels);
    const deadline = callDeadline(call.getDeadline());
    const { signal, dispose } = callSignal({
      deadline,
      onCancelled: (listener) => (call as NodeJS.EventEmitter).on('cancelled', listener),
      shutdown: env.shutdown,
    });
    const requestId = requestIdFrom(call.metadata);
    const parent = extractFromMetadata(call.metadata);
    const span = env.tracer.startSpan(method.path.slice(1), { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': name, 'aigc.request_id': requestId } }, parent);
    const spanContext = trace.setSpan(parent, span);
    const ctx: CallContext = {
      method: method.path.slice(1),
      signal,
      deadline,
      metadata: call.metadata,
      requestId,
      tenantId: metadataValue(call.metadata, MetadataKeys.tenant),
      apiKeyId: metadataValue(call.metadata, MetadataKeys.apiKeyId),
      reservationId: metadataValue(call.metadata, MetadataKeys.reservation),
      logger: env.logger.child({ method: name, request_id: requestId }),
      trailers: new Metadata(),
    };
    const finish = (error?: ServiceError): void => {
      const code = error?.code ?? Status.OK;
      env.metrics.handled.inc({ ...labels, grpc_code: Status[code] ?? String(code) });
      stopTimer();
      if (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        span.setAttribute('rpc.grpc.status_code', code);
        if (code === Status.INTERNAL || code === Status.UNKNOWN) context.with(spanContext, () => ctx.logger.error('call failed', { code: Status[code], error: error.cause ?? error }));
      }
      span.end();
      dispose();
      done();
    };
    return { ctx, spanContext, finish };
  };

  const toError = (err: unknown, signal: AbortSignal): ServiceError => {
    // When our own signal fired, the handler's failure is a consequence of it: report the reason.
    if (signal.aborted && !(err instanceof ServiceError && err.code !== Status.INTERNAL)) return ServiceError.from(signal.reason);
    return ServiceError.from(err);
  };

  if (!method.requestStream && !method.responseStream) {
    const fn = handler as UnaryHandler<unknown, unknown>;
    return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const { ctx, spanContext, finish } = begin(call);
      context
        .with(spanContext, () => fn(call.request, ctx))
        .then(
          (response) => {
            finish();
            callback(null, response, ctx.trailers);
          },
          (err: unknown) => {
            const error = toError(err, ctx.signal);
            finish(error);
            callback(withTrailers(error, ctx.trailers));
          },
        );
    };
  }

  if (!method.requestStream && method.responseStream) {
    const fn = handler as ServerStreamHandler<unknown, unknown>;
    return (call: ServerWritableStream<unknown, unknown>) => {
      const { ctx, spanContext, finish } = begin(call);
      context
        .with(spanContext, () => writeAll(call, fn(call.request, ctx), ctx.signal))
        .then(
          () => {
            finish();
            call.end(ctx.trailers);
          },
          (err: unknown) => {
            const error = toError(err, ctx.signal);
            finish(error);
            call.emit('error', withTrailers(error, ctx.trailers));
          },
        );
    };
  }

  if (method.requestStream && !method.responseStream) {
    const fn = handler as ClientStreamHandler<unknown, unknown>;
    return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const { ctx, spanContext, finish } = begin(call);
      context
        .with(spanContext, () => fn(call as AsyncIterable<unknown>, ctx))
        .then(
          (response) => {
            finish();
            callback(null, response, ctx.trailers);
          },
          (err: unknown) => {
            const error = toError(err, ctx.signal);
            finish(error);
            callback(withTrailers(error, ctx.trailers));
          },
        );
    };
  }

  const fn = handler as BidiStreamHandler<unknown, unknown>;
  return (call: ServerDuplexStream<unknown, unknown>) => {
    const { ctx, spanContext, finish } = begin(call);
    context
      .with(spanContext, () => writeAll(call, fn(call as AsyncIterable<unknown>, ctx), ctx.signal))
      .then(
        () => {
          finish();
          call.end(ctx.trailers);
        },
        (err: unknown) => {
          const error = toError(err, ctx.signal);
          finish(error);
          call.emit('error', withTrailers(error, ctx.trailers));
        },
      );
  };
}

/** The error's status with the handler's trailing metadata added (the error's own keys win). */
function withTrailers(error: ServiceError, trailers: Metadata): ReturnType<ServiceError['toStatus']> {
  const status = error.toStatus();
  for (const [key, value] of Object.entries(trailers.getMap())) if (status.metadata.get(key).length === 0) status.metadata.set(key, value);
  return status;
}

/** Writes every response, waiting for 'drain' when the transport pushes back. */
async function writeAll(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  responses: AsyncIterable<unknown>,
  signal: AbortSignal,
): Promise<void> {
  for await (const response of responses) {
    if (signal.aborted) throw ServiceError.from(signal.reason);
    if (!call.write(response)) await once(call, 'drain', { signal });
  }
}

/**
 * Handlers that answer every method of a service with UNIMPLEMENTED and `message`: a service
 * can be deployed, health-checked and discovered through reflection before its capability lands.
 */
export function unimplementedHandlers<D extends Record<string, MethodShape>>(definition: D, message: string): ServiceHandlers<D> {
  const handlers: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition)) {
    const fail = (): ServiceError => new ServiceError(Status.UNIMPLEMENTED, `${method.path.slice(1)}: ${message}`);
    handlers[key] = method.responseStream
      ? async function* () {
          yield* [];
          throw fail();
        }
      : async () => {
          throw fail();
        };
  }
  return handlers as ServiceHandlers<D>;
}
