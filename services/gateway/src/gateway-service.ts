import { KeyChangeWatcher } from '@aigc/accounts';
import type { Bus } from '@aigc/bus';
import { BillingServiceClient, GatewayServiceService, ModerationServiceClient, type OrchestratorServiceClient } from '@aigc/proto';
import { createClient, metadataValue, ServiceHost, type CallContext, type ConfigOf, type Logger, type StreamRequestOf, type UnaryRequestOf } from '@aigc/runtime';
import { Admission } from './admission/admission.js';
import { KeyCache } from './admission/key-cache.js';
import { Authenticator } from './authenticator.js';
import type { gatewayConfigSpec } from './config.js';
import { GatewayCore, type CallInfo } from './gateway-core.js';
import { startOpenAIServer } from './http/openai-server.js';
import { OrchestratorLink } from './orchestrator-link.js';
import { RequestTiming, requestPhaseHistogram } from './request-timing.js';
import type { StreamTask, UnaryTask } from './tasks.js';

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

  const observe = requestPhaseHistogram(host.registry);
  const caller = async (ctx: CallContext): Promise<CallInfo> => {
    const timing = new RequestTiming();
    return {
      caller: await timing.wait('admission', auth.authenticate(metadataValue(ctx.metadata, 'authorization'), { signal: ctx.signal, deadline: ctx.deadline })),
      requestId: ctx.requestId,
      signal: ctx.signal,
      deadline: ctx.deadline,
      timing,
    };
  };
  // Every admitted call reports where its time went: a `server-timing` trailer and the phase histogram.
  const report = (ctx: CallContext, call: CallInfo): void => {
    ctx.trailers.set('server-timing', call.timing.header());
    observe('grpc', call.timing);
  };
  const unary = async <K extends UnaryTask>(task: K, request: UnaryRequestOf<OrchestratorServiceClient[K]>, ctx: CallContext) => {
    const call = await caller(ctx);
    try {
      return (await core.unary(task, request, call)).response;
    } finally {
      report(ctx, call);
    }
  };
  async function* stream<K extends StreamTask>(task: K, request: StreamRequestOf<OrchestratorServiceClient[K]>, ctx: CallContext) {
    const call = await caller(ctx);
    try {
      yield* (await core.stream(task, request, call)).responses;
    } finally {
      report(ctx, call);
    }
  }
  host.addService(GatewayServiceService, {
    complete: (request, ctx) => unary('complete', request, ctx),
    completeStream: (request, ctx) => stream('completeStream', request, ctx),
    chat: (request, ctx) => unary('chat', request, ctx),
    chatStream: (request, ctx) => stream('chatStream', request, ctx),
    embed: (request, ctx) => unary('embed', request, ctx),
    generateImage: (request, ctx) => stream('generateImage', request, ctx),
    synthesize: (request, ctx) => unary('synthesize', request, ctx),
    moderate: (request, ctx) => unary('moderate', request, ctx),
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
    observePhases: observe,
    maxBodyBytes: config.maxBodyBytes,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  host.onDrain((graceMs) => http.close(graceMs));
  deps.logger.info('OpenAI-compatible HTTP API listening', { http_port: http.port });
  httpPorts.set(host, http.port);
  return host;
}
