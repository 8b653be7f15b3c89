import {
  type CallOptions,
  type ChannelOptions,
  type Client,
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError as GrpcServiceError,
} from '@grpc/grpc-js';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { getTracer, injectIntoMetadata } from '@aigc/telemetry';
import { MetadataKeys, type CallContext } from './call-context.js';
import { ServiceError } from './errors.js';

/** Per-call options of the async client helpers. */
export interface CallOptionsAsync {
  /** Cancels the call when it fires. */
  signal?: AbortSignal;
  deadline?: Date;
  metadata?: Metadata;
}

type ClientConstructor<C> = new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: Partial<ChannelOptions>) => C;

/**
 * Creates a grpc-js client for `address`. `dns:///host:port` targets resolve every address and
 * spread calls over them (client-side round-robin), so scaling a headless Service needs no proxy.
 */
export function createClient<C extends Client>(Ctor: ClientConstructor<C>, address: string, options: Partial<ChannelOptions> = {}): C {
  return new Ctor(address, credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    ...options,
  });
}

/**
 * Options for a downstream call made while serving `ctx`: the same signal and deadline, and
 * the platform metadata (request id, tenant, key, reservation) forwarded.
 */
export function forward(
  ctx: Pick<CallContext, 'requestId' | 'tenantId' | 'apiKeyId' | 'reservationId' | 'deadline'> & { signal?: AbortSignal },
  extra: Record<string, string> = {},
): CallOptionsAsync {
  const metadata = new Metadata();
  metadata.set(MetadataKeys.requestId, ctx.requestId);
  if (ctx.tenantId) metadata.set(MetadataKeys.tenant, ctx.tenantId);
  if (ctx.apiKeyId) metadata.set(MetadataKeys.apiKeyId, ctx.apiKeyId);
  if (ctx.reservationId) metadata.set(MetadataKeys.reservation, ctx.reservationId);
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
  return { signal: ctx.signal, deadline: ctx.deadline, metadata };
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: GrpcServiceError | null, response: Res) => void,
) => ClientUnaryCall;

type StreamMethod<Req, Res> = (request: Req, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<Res>;

/** Request type of a generated unary client method (its last, four-argument overload). */
export type UnaryRequestOf<F> = F extends (request: infer Q, metadata: Metadata, options: Partial<CallOptions>, callback: (error: GrpcServiceError | null, response: infer _R) => void) => ClientUnaryCall ? Q : never;
/** Response type of a generated unary client method. */
export type UnaryResponseOf<F> = F extends (request: infer _Q, metadata: Metadata, options: Partial<CallOptions>, callback: (error: GrpcServiceError | null, response: infer R) => void) => ClientUnaryCall ? R : never;
/** Request type of a generated server-streaming client method. */
export type StreamRequestOf<F> = F extends (request: infer Q, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<unknown> ? Q : never;
/** Response type of a generated server-streaming client method. */
export type StreamResponseOf<F> = F extends (request: never, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<infer R> ? R : never;

/** Calls a unary method as a promise, with a CLIENT span, trace propagation and cancellation. */
export function callUnary<C extends Client, K extends keyof C & string>(
  client: C,
  method: K,
  request: UnaryRequestOf<C[K]>,
  options: CallOptionsAsync = {},
): Promise<UnaryResponseOf<C[K]>> {
  type Req = UnaryRequestOf<C[K]>;
  type Res = UnaryResponseOf<C[K]>;
  const fn = client[method] as unknown as UnaryMethod<Req, Res>;
  const span = startClientSpan(client, method);
  const metadata = options.metadata?.clone() ?? new Metadata();
  injectIntoMetadata(metadata, trace.setSpan(context.active(), span));
  return new Promise<Res>((resolve, reject) => {
    if (options.signal?.aborted) {
      endSpan(span, ServiceError.from(options.signal.reason));
      reject(ServiceError.from(options.signal.reason));
      return;
    }
    const call = fn.call(client, request, metadata, options.deadline ? { deadline: options.deadline } : {}, (error, response) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        const wrapped = options.signal?.aborted && error.code === 1 ? ServiceError.from(options.signal.reason) : ServiceError.from(error);
        endSpan(span, wrapped);
        reject(wrapped);
      } else {
        endSpan(span);
        resolve(response);
      }
    });
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Calls a server-streaming method as an async iterable; breaking out of the loop cancels the call. */
export async function* callServerStream<C extends Client, K extends keyof C & string>(
  client: C,
  method: K,
  request: StreamRequestOf<C[K]>,
  options: CallOptionsAsync = {},
): AsyncGenerator<StreamResponseOf<C[K]>> {
  type Req = StreamRequestOf<C[K]>;
  type Res = StreamResponseOf<C[K]>;
  const fn = client[method] as unknown as StreamMethod<Req, Res>;
  const span = startClientSpan(client, method);
  const metadata = options.metadata?.clone() ?? new Metadata();
  injectIntoMetadata(metadata, trace.setSpan(context.active(), span));
  if (options.signal?.aborted) throw ServiceError.from(options.signal.reason);
  const call = fn.call(client, request, metadata, options.deadline ? { deadline: options.deadline } : {});
  const onAbort = (): void => call.cancel();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let failure: ServiceError | undefined;
  try {
    for await (const message of call as AsyncIterable<Res>) yield message;
  } catch (err) {
    failure = options.signal?.aborted ? ServiceError.from(options.signal.reason) : ServiceError.from(err);
    throw failure;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    call.cancel();
    endSpan(span, failure);
  }
}

function startClientSpan(client: Client, method: string) {
  // Name the span by the method's proto path, as the server span is named (OTel RPC conventions).
  const definition = (client.constructor as { service?: Record<string, { path?: string }> }).service;
  const path = definition?.[method]?.path?.slice(1) ?? method;
  const [service = 'grpc', name = method] = path.split('/');
  return getTracer('@aigc/runtime').startSpan(path, {
    kind: SpanKind.CLIENT,
    attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': name },
  });
}

function endSpan(span: ReturnType<typeof startClientSpan>, error?: ServiceError): void {
  if (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    span.setAttribute('rpc.grpc.status_code', error.code);
  }
  span.end();
}
