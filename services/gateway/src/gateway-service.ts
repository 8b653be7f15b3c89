import { KeyChangeWatcher } from '@aigc/accounts';
import type { Bus } from '@aigc/bus';
import { BillingServiceClient, GatewayServiceService, ModerationServiceClient } from '@aigc/proto';
import { createClient, metadataValue, ServiceHost, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import { Admission } from './admission/admission.js';
import { KeyCache } from './admission/key-cache.js';
import { Authenticator } from './authenticator.js';
import type { gatewayConfigSpec } from './config.js';
import { GatewayCore, type CallInfo } from './gateway-core.js';
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
 * every call with billing (cached, and dropped on billing's key-change broadcast), admit it
 * (moderation pre-filter, billing reservation), then forward it to the orchestrator with the
 * tenant and key set by the gateway (never by the client), the caller's deadline and cancellation
 * carried through, and settle it with the measured usage.
 */
export async function startGatewayService(config: GatewayConfig, deps: { logger: Logger; bus: Bus; metricsPort?: number | null }): Promise<ServiceHost> {
  const host = ServiceHost.fromConfig('gateway', config, deps);
  const orchestrator = new OrchestratorLink(config.orchestratorAddr);
  const billing = createClient(BillingServiceClient, config.billingAddr);
  const moderation = createClient(ModerationServiceClient, config.moderationAddr);
  const cache = new KeyCache(config.keyCacheMs);
  const watcher = await new KeyChangeWatcher(deps.bus, (change) => cache.evict(change)).start();
  const auth = new Authenticator(billing, cache);
  const admission = new Admission({
    billing,
    moderation,
    logger: deps.logger.child({ component: 'admission' }),
    registry: host.registry,
    prefilter: config.prefilter,
    reservationTtlMs: config.requestTimeoutMs + 60_000,
  });
  const core = new GatewayCore(orchestrator, admission, {
    maxTokens: config.defaultMaxTokens,
    imageSteps: config.imageEstimateSteps,
    imageSide: config.imageEstimateSide,
  });

  const caller = async (ctx: CallContext): Promise<CallInfo> => ({
    caller: await auth.authenticate(metadataValue(ctx.metadata, 'authorization'), { signal: ctx.signal, deadline: ctx.deadline }),
    requestId: ctx.requestId,
    signal: ctx.signal,
    deadline: ctx.deadline,
  });
  host.addService(GatewayServiceService, {
    complete: async (request, ctx) => (await core.unary('complete', request, await caller(ctx))).response,
    async *completeStream(request, ctx) {
      yield* (await core.stream('completeStream', request, await caller(ctx))).responses;
    },
    chat: async (request, ctx) => (await core.unary('chat', request, await caller(ctx))).response,
    async *chatStream(request, ctx) {
      yield* (await core.stream('chatStream', request, await caller(ctx))).responses;
    },
    embed: async (request, ctx) => (await core.unary('embed', request, await caller(ctx))).response,
    async *generateImage(request, ctx) {
      yield* (await core.stream('generateImage', request, await caller(ctx))).responses;
    },
    synthesize: async (request, ctx) => (await core.unary('synthesize', request, await caller(ctx))).response,
    moderate: async (request, ctx) => (await core.unary('moderate', request, await caller(ctx))).response,
    async listModels(request, ctx) {
      const call = await caller(ctx);
      return orchestrator.unary('listModels', request, { signal: call.signal, deadline: call.deadline });
    },
  });
  host.onShutdown(() => {
    try {
      watcher.stop();
    } catch {
      // The connection may already be drained; the subscription went with it.
    }
    orchestrator.close();
    billing.close();
    moderation.close();
  });
  // Runs before the clients close (cleanups run last-registered first): settlements still in flight finish.
  host.onShutdown(() => admission.drain());
  await host.start();
  const http = await startOpenAIServer({
    host: config.grpcHost,
    port: config.httpPort,
    core,
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
