import { randomUUID } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { cancelled, deadlineExceeded, ServiceError } from './errors.js';
import type { Logger } from './logger.js';

/** Metadata keys the platform uses between its services. */
export const MetadataKeys = {
  requestId: 'x-request-id',
  /** Set by the gateway only; internal services never take a tenant from a client. */
  tenant: 'x-aigc-tenant',
  apiKeyId: 'x-aigc-api-key-id',
  reservation: 'x-aigc-reservation',
} as const;

/** Everything a handler knows about the call it serves. */
export interface CallContext {
  /** `service/method`, e.g. `aigc.v1.TextService/Generate`. */
  readonly method: string;
  /** Fires on the deadline, client cancel or server shutdown; `reason` is a ServiceError. */
  readonly signal: AbortSignal;
  readonly deadline: Date | undefined;
  readonly metadata: Metadata;
  readonly requestId: string;
  readonly tenantId: string | undefined;
  readonly apiKeyId: string | undefined;
  readonly reservationId: string | undefined;
  readonly logger: Logger;
  /**
   * Trailing metadata sent with the call's status, success or error: a handler adds to it (the
   * gateway's `server-timing`, for instance) at any point before it returns.
   */
  readonly trailers: Metadata;
}

/** Reads one string value of a metadata key. */
export function metadataValue(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return value === undefined ? undefined : String(value);
}

/**
 * Builds the one AbortSignal of a call: it fires with DEADLINE_EXCEEDED at the deadline, with
 * CANCELLED when the client goes away, and with whatever reason the server's shutdown signal
 * carries. `dispose` clears the timer when the call ends; after it, nothing fires (grpc-js may
 * still report the stream's close as a cancel, and building an error for it costs a stack trace on
 * every call).
 */
export function callSignal(options: {
  deadline: Date | undefined;
  onCancelled: (listener: () => void) => void;
  shutdown: AbortSignal;
}): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;
  if (options.deadline) {
    const ms = options.deadline.getTime() - Date.now();
    if (ms <= 0) controller.abort(deadlineExceeded());
    else timer = setTimeout(() => controller.abort(deadlineExceeded()), ms);
  }
  // grpc-js cancels the call itself when the deadline passes, racing our timer: tell the two apart.
  options.onCancelled(() => {
    if (disposed || controller.signal.aborted) return;
    controller.abort(options.deadline && Date.now() >= options.deadline.getTime() - 5 ? deadlineExceeded() : cancelled('cancelled by the client'));
  });
  const onShutdown = (): void => controller.abort(ServiceError.from(options.shutdown.reason));
  if (options.shutdown.aborted) onShutdown();
  else options.shutdown.addEventListener('abort', onShutdown, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      disposed = true;
      clearTimeout(timer);
      options.shutdown.removeEventListener('abort', onShutdown);
    },
  };
}

/** Deadline of a grpc-js server call, or undefined when the caller set none. */
export function callDeadline(raw: Date | number): Date | undefined {
  const ms = raw instanceof Date ? raw.getTime() : raw;
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** The request id the caller sent, or a new one. */
export function requestIdFrom(metadata: Metadata): string {
  return metadataValue(metadata, MetadataKeys.requestId) ?? randomUUID();
}

/**
 * Rejects with the signal's reason as a ServiceError when it fires; resolves with `work`
 * otherwise. Used to stop waiting on work that cannot itself be interrupted.
 */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(ServiceError.from(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(ServiceError.from(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
