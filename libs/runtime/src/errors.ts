import { Metadata, status as Status, type ServiceError as GrpcServiceError } from '@grpc/grpc-js';

export { Status };

/** Options of a {@link ServiceError}. */
export interface ServiceErrorOptions {
  /** The original error; logged on the server side, never sent to the caller. */
  cause?: unknown;
  /** Milliseconds after which a retry may succeed; sent as `retry-after-ms` trailing metadata. */
  retryAfterMs?: number;
  /** Extra trailing metadata for the caller. */
  metadata?: Record<string, string>;
}

/**
 * The one error type of the platform: a gRPC status code, a message safe to show the caller,
 * and the original cause. Everything thrown in a handler is turned into one of these by
 * {@link ServiceError.from} and mapped to a status once, at the handler boundary.
 */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  readonly code: Status;
  readonly retryAfterMs: number | undefined;
  readonly metadata: Record<string, string>;

  constructor(code: Status, message: string, options: ServiceErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.metadata = options.metadata ?? {};
  }

  /**
   * Turns anything thrown into a ServiceError: ServiceErrors pass through, gRPC errors from a
   * downstream call keep their code, aborts become CANCELLED or DEADLINE_EXCEEDED, and
   * anything else becomes INTERNAL with a generic message (the original kept as `cause`).
   */
  static from(reason: unknown): ServiceError {
    if (reason instanceof ServiceError) return reason;
    if (isGrpcError(reason)) {
      const retry = reason.metadata?.get('retry-after-ms')[0];
      return new ServiceError(reason.code, reason.details || reason.message, {
        cause: reason,
        retryAfterMs: retry === undefined ? undefined : Number(retry),
      });
    }
    if (reason instanceof Error && (reason.name === 'TimeoutError' || reason.name === 'DeadlineError')) {
      return new ServiceError(Status.DEADLINE_EXCEEDED, 'deadline exceeded', { cause: reason });
    }
    if (reason instanceof Error && reason.name === 'AbortError') {
      return new ServiceError(Status.CANCELLED, 'cancelled', { cause: reason });
    }
    return new ServiceError(Status.INTERNAL, 'internal error', { cause: reason });
  }

  /** The gRPC status object grpc-js sends to the caller. */
  toStatus(): { code: Status; details: string; metadata: Metadata } {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(this.metadata)) metadata.set(key, value);
    if (this.retryAfterMs !== undefined) metadata.set('retry-after-ms', String(Math.ceil(this.retryAfterMs)));
    return { code: this.code, details: this.message, metadata };
  }
}

/** True for errors produced by grpc-js for a failed call. */
export function isGrpcError(reason: unknown): reason is GrpcServiceError {
  return (
    reason instanceof Error &&
    typeof (reason as Partial<GrpcServiceError>).code === 'number' &&
    'details' in reason &&
    'metadata' in reason
  );
}

/** INVALID_ARGUMENT: the caller sent something wrong; the message names the field. */
export const invalidArgument = (message: string, cause?: unknown): ServiceError =>
  new ServiceError(Status.INVALID_ARGUMENT, message, { cause });

/** NOT_FOUND: a named thing (model, key, review item) does not exist. */
export const notFound = (message: string): ServiceError => new ServiceError(Status.NOT_FOUND, message);

/** RESOURCE_EXHAUSTED with a retry hint: a queue or limit is full; try again later. */
export const resourceExhausted = (message: string, retryAfterMs: number): ServiceError =>
  new ServiceError(Status.RESOURCE_EXHAUSTED, message, { retryAfterMs });

/** UNAVAILABLE: the server is draining or a dependency is down; safe to retry elsewhere. */
export const unavailable = (message: string, retryAfterMs?: number): ServiceError =>
  new ServiceError(Status.UNAVAILABLE, message, { retryAfterMs });

/** FAILED_PRECONDITION: the system is not in a state to do this (model not loaded, ...). */
export const failedPrecondition = (message: string): ServiceError => new ServiceError(Status.FAILED_PRECONDITION, message);

/** DEADLINE_EXCEEDED: the caller's deadline passed before the work finished. */
export const deadlineExceeded = (message = 'deadline exceeded'): ServiceError =>
  new ServiceError(Status.DEADLINE_EXCEEDED, message);

/** CANCELLED: the caller went away or the server is shutting down. */
export const cancelled = (message = 'cancelled'): ServiceError => new ServiceError(Status.CANCELLED, message);
