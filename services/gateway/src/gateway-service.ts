import { BillingServiceClient, GatewayServiceService } from '@aigc/proto';
import { createClient, forward, metadataValue, ServiceHost, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import { Authenticator, type Caller } from './authenticator.js';
import type { gatewayConfigSpec } from './config.js';
import { startOpenAIServer } from './http/openai-server.js';
import { OrchestratorLink } from './orchestrator-link.js';

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
  const orchestrator = new OrchestratorLink(config.orchestratorAddr);
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
    complete: async (request, ctx) => orchestrator.unary('complete', request, await caller(ctx)),
    async *completeStream(request, ctx) {
      yield* orchestrator.stream('completeStream', request, await caller(ctx));
    },
    chat: async (request, ctx) => orchestrator.unary('chat', request, await caller(ctx)),
    async *chatStream(request, ctx) {
      yield* orchestrator.stream('chatStream', request, await caller(ctx));
    },
    embed: async (request, ctx) => orchestrator.unary('embed', request, await caller(ctx)),
    async *generateImage(request, ctx) {
      yield* orchestrator.stream('generateImage', request, await caller(ctx));
    },
    synthesize: async (request, ctx) => orchestrator.unary('synthesize', request, await caller(ctx)),
    moderate: async (request, ctx) => orchestrator.unary('moderate', request, await caller(ctx)),
    listModels: async (request, ctx) => orchestrator.unary('listModels', request, await caller(ctx)),
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
