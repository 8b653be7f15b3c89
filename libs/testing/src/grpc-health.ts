import { Client, credentials, Metadata } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { waitFor } from './wait-for.js';

/** Options of {@link waitForGrpcServing}. */
export interface WaitForGrpcServingOptions {
  /** Service name to ask about; '' (default) is the whole server. */
  service?: string;
  /** Give up after this many milliseconds (default 10000). */
  timeoutMs?: number;
  /** Pause between checks in milliseconds (default 100). */
  intervalMs?: number;
}

/** What `grpc.health.v1.Health/Check` answered, or the gRPC error that came instead. */
export type HealthCheckOutcome = { status: string } | { error: ServiceError };

const checkMethod = healthService['Check'];

/** Calls `grpc.health.v1.Health/Check` once with a deadline; never throws. */
export function checkGrpcHealth(
  client: Client,
  service: string,
  deadlineMs: number,
): Promise<HealthCheckOutcome> {
  if (!checkMethod) throw new Error('grpc-health-check does not define Health/Check');
  return new Promise((resolve) => {
    client.makeUnaryRequest<{ service: string }, { status: string }>(
      checkMethod.path,
      checkMethod.requestSerialize as (value: { service: string }) => Buffer,
      checkMethod.responseDeserialize as (bytes: Buffer) => { status: string },
      { service },
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error, response) => resolve(error ? { error } : { status: response?.status ?? 'UNKNOWN' }),
    );
  });
}

/**
 * Resolves once the gRPC server at `address` (host:port) reports SERVING on the standard health service.
 * The reliable "service is up" signal for integration tests; on timeout the error names the last answer.
 */
export async function waitForGrpcServing(
  address: string,
  options: WaitForGrpcServingOptions = {},
): Promise<void> {
  const { service = '', timeoutMs = 10_000, intervalMs = 100 } = options;
  const client = new Client(address, credentials.createInsecure());
  let last = 'no answer yet';
  try {
    await waitFor(
      async () => {
        const outcome = await checkGrpcHealth(client, service, Math.max(intervalMs, 1000));
        last = 'status' in outcome ? outcome.status : `${outcome.error.code} ${outcome.error.details}`;
        return 'status' in outcome && outcome.status === 'SERVING';
      },
      {
        timeoutMs,
        intervalMs,
        message: `gRPC health of ${address} service '${service}' to be SERVING`,
      },
    ).catch((err: unknown) => {
      throw new Error(
        `gRPC server at ${address} was not SERVING for service '${service}' within ${timeoutMs} ms (last: ${last})`,
        { cause: err },
      );
    });
  } finally {
    client.close();
  }
}
