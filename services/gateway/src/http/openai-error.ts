import { ServiceError, Status } from '@aigc/runtime';

/** An error as the OpenAI HTTP API shapes it, with its HTTP status. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  /** The JSON body OpenAI clients parse. */
  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the parameter, as OpenAI answers a bad field. */
export const badRequest = (message: string, param: string | null = null, code: string | null = null): HttpError =>
  new HttpError(400, message, 'invalid_request_error', param, code);

const BY_CODE: Partial<Record<Status, { status: number; type: string; code: string | null }>> = {
  [Status.INVALID_ARGUMENT]: { status: 400, type: 'invalid_request_error', code: null },
  [Status.OUT_OF_RANGE]: { status: 400, type: 'invalid_request_error', code: null },
  [Status.FAILED_PRECONDITION]: { status: 400, type: 'invalid_request_error', code: null },
  [Status.UNAUTHENTICATED]: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  [Status.PERMISSION_DENIED]: { status: 403, type: 'permission_error', code: null },
  // Downstream NOT_FOUND means an unknown model: a client error in the request body, so 400.
  [Status.NOT_FOUND]: { status: 400, type: 'invalid_request_error', code: 'model_not_found' },
  [Status.RESOURCE_EXHAUSTED]: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  [Status.CANCELLED]: { status: 499, type: 'api_error', code: 'cancelled' },
  [Status.UNIMPLEMENTED]: { status: 501, type: 'api_error', code: 'not_implemented' },
  [Status.UNAVAILABLE]: { status: 503, type: 'api_error', code: 'overloaded' },
  [Status.DEADLINE_EXCEEDED]: { status: 504, type: 'api_error', code: 'timeout' },
};

/**
 * Maps anything thrown while serving an HTTP request to the OpenAI error shape: gRPC statuses from
 * the platform keep their meaning (RESOURCE_EXHAUSTED is 429, UNAVAILABLE is 503, both with a retry
 * hint); anything unknown is a 500 with a generic message.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const error = ServiceError.from(err);
  const mapped = BY_CODE[error.code];
  if (!mapped) return new HttpError(500, 'internal error', 'api_error', null, null);
  if (error.metadata['aigc-moderation'] === 'blocked') return new HttpError(400, error.message, 'invalid_request_error', null, 'content_policy_violation');
  const retryAfterMs = error.retryAfterMs ?? (error.code === Status.UNAVAILABLE || error.code === Status.RESOURCE_EXHAUSTED ? 1000 : undefined);
  return new HttpError(mapped.status, error.message, mapped.type, null, mapped.code, retryAfterMs);
}
