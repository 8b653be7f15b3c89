import type { OrchestratorServiceClient } from '@aigc/proto';
import {
  callServerStream,
  callUnary,
  CircuitBreaker,
  createClient,
  type CallOptionsAsync,
  type StreamRequestOf,
  type StreamResponseOf,
  type UnaryRequestOf,
  type UnaryResponseOf,
} from '@aigc/runtime';
import { OrchestratorServiceClient as Client } from '@aigc/proto';

type C = OrchestratorServiceClient;

/**
 * Retries only where they are safe: reads and checks that neither generate nor meter anything.
 * Generation is never retried, so a request is never run (or billed) twice.
 */
const SERVICE_CONFIG = {
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [
    {
      name: [
        { service: 'aigc.v1.OrchestratorService', method: 'ListModels' },
        { service: 'aigc.v1.OrchestratorService', method: 'Moderate' },
      ],
      retryPolicy: { maxAttempts: 3, initialBackoff: '0.05s', maxBackoff: '0.5s', backoffMultiplier: 2, retryableStatusCodes: ['UNAVAILABLE'] },
    },
  ],
};

/**
 * The gateway's link to the orchestrator replicas: client-side round-robin over every address
 * the target resolves to (`dns:///orchestrator:50052`), safe retries, and a circuit breaker that
 * answers at once with UNAVAILABLE and a retry hint while the orchestrator keeps failing.
 */
export class OrchestratorLink {
  readonly client: C;
  readonly breaker: CircuitBreaker;

  constructor(address: string, options: { failureThreshold?: number; openMs?: number } = {}) {
    this.client = createClient(Client, address, { 'grpc.service_config': JSON.stringify(SERVICE_CONFIG), 'grpc.enable_retries': 1 });
    this.breaker = new CircuitBreaker({ name: 'orchestrator', ...options });
  }

  /** One unary call through the breaker. */
  unary<K extends keyof C & string>(method: K, request: UnaryRequestOf<C[K]>, options: CallOptionsAsync): Promise<UnaryResponseOf<C[K]>> {
    return this.breaker.call(() => callUnary(this.client, method, request, options));
  }

  /** One server-streaming call; the breaker judges it by whether its first message arrives. */
  async *stream<K extends keyof C & string>(method: K, request: StreamRequestOf<C[K]>, options: CallOptionsAsync): AsyncGenerator<StreamResponseOf<C[K]>> {
    const responses = callServerStream(this.client, method, request, options);
    const first = await this.breaker.call(() => responses.next());
    if (first.done) return;
    yield first.value;
    yield* responses;
  }

  close(): void {
    this.client.close();
  }
}
