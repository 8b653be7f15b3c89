import { BillingServiceClient, GatewayServiceService, OrchestratorServiceClient } from '@aigc/proto';
import { callServerStream, callUnary, createClient, forward, metadataValue, ServiceHost, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import { Authenticator, type Caller } from './authenticator.js';
import type { gatewayConfigSpec } from './config.js';
import { startOpenAIServer } from './http/openai-server.js';

const httpPorts = new WeakMap<ServiceHost, number>();

/** The bound port of a gateway's HTTP API (useful when it was started on port 0). */
export function gatewayHttpPort(host: ServiceHost): number | undefined {
  return httpPorts.get(host);
}

/** Configuration of the gateway. */
export type GatewayConfig = ConfigOf<typeof gatewayConfigSpec>;

/**
 * Starts the gateway: the native gRPC API and the OpenAI-compatible HTTP API. Both authenticate
 * every call with billing, then forward it to the orchestrator with the tenant and key set by the
 * gateway (never by the client), the caller's deadline and cancellation carried through.
 */
export async function startGatewayService(config: GatewayConfig, deps: { logger: Logger; metricsPort?: number | null }): Promise<ServiceHost> {
  const orchestrator = createClient(OrchestratorServiceClient, config.orchestratorAddr);
  const billing = createClient(BillingServiceClient, config.billingAddr);
  const auth = new Authenticator(billing);

  /** Downstream call options: only the gateway's own view of the caller travels on. */
  const downstream = (ctx: CallContext, caller: Caller) =>
    forward({ ...ctx, tenantId: caller.tenantId, apiKeyId: caller.apiKeyId, reservationId: undefined });

  const caller = async (ctx: CallContext) =>
    downstream(ctx, await auth.authenticate(metadataValue(ctx.metadata, 'authorization'), { signal: ctx.signal, deadline: ctx.deadline }));

  const host = new ServiceHost({
    name: 'gateway',
    host: config.grpcHost,
    port: config.grpcPort,
    metricsPort: deps.metricsPort === undefined ? config.metricsPort : deps.metricsPort,
    logger: deps.logger,
    shutdownGraceMs: config.shutdownGraceMs,
  });
  host.addService(GatewayServiceService, {
    complete: async (request, ctx) => callUnary(orchestrator, 'complete', request, await caller(ctx)),
    async *completeStream(request, ctx) {
      yield* callServerStream(orchestrator, 'completeStream', request, await caller(ctx));
    },
    chat: async (request, ctx) => callUnary(orchestrator, 'chat', request, await caller(ctx)),
    async *chatStream(request, ctx) {
      yield* callServerStream(orchestrator, 'chatStream', request, await caller(ctx));
    },
    embed: async (request, ctx) => callUnary(orchestrator, 'embed', request, await caller(ctx)),
    async *generateImage(request, ctx) {
      yield* callServerStream(orchestrator, 'generateImage', request, await caller(ctx));
    },
    synthesize: async (request, ctx) => callUnary(orchestrator, 'synthesize', request, await caller(ctx)),
    moderate: async (request, ctx) => callUnary(orchestrator, 'moderate', request, await caller(ctx)),
    listModels: async (request, ctx) => callUnary(orchestrator, 'listModels', request, await caller(ctx)),
  });
  host.onShutdown(() => {
    orchestrator.close();
    billing.close();
  });
  await host.start();
  const http = await startOpenAIServer({
    host: config.grpcHost,
    port: config.httpPort,
    orchestrator,
    auth,
    logger: deps.logger.child({ component: 'http' }),
    registry: host.registry,
    maxBodyBytes: config.maxBodyBytes,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  host.onDrain((graceMs) => http.close(graceMs));
  deps.logger.info('OpenAI-compatible HTTP API listening', { http_port: http.port });
  httpPorts.set(host, http.port);
  return host;
}
