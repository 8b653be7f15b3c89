import { commonConfig, env } from '@aigc/runtime';

/** Environment of the gateway. */
export const gatewayConfigSpec = {
  ...commonConfig({ grpcPort: 50051, metricsPort: 9461 }),
  orchestratorAddr: env.address('ORCHESTRATOR_ADDR', 'orchestrator', '127.0.0.1:50052'),
  billingAddr: env.address('BILLING_ADDR', 'billing service (API keys)', '127.0.0.1:50057'),
  moderationAddr: env.address('MODERATION_ADDR', 'moderation service', '127.0.0.1:50056'),
  httpPort: env.port('GATEWAY_HTTP_PORT', 'port of the OpenAI-compatible HTTP API (0: any free port)', 8080),
  maxBodyBytes: env.int('GATEWAY_MAX_BODY_BYTES', 'largest HTTP request body accepted', 2 * 1024 * 1024, { min: 1024 }),
  requestTimeoutMs: env.int('GATEWAY_REQUEST_TIMEOUT_MS', 'upper bound on one HTTP request, passed downstream as its deadline', 300_000, { min: 100 }),
  prefilter: env.bool('GATEWAY_PREFILTER', 'pre-filter every input through moderation before any model runs', true),
  keyCacheMs: env.int('GATEWAY_KEY_CACHE_MS', 'how long an authenticated key is cached (dropped earlier on a key-change broadcast); 0 disables', 30_000, { min: 0 }),
  defaultMaxTokens: env.int('GATEWAY_DEFAULT_MAX_TOKENS', 'max_tokens set on text requests that give none (bounds the reservation)', 256, { min: 1 }),
  imageEstimateSteps: env.int('GATEWAY_IMAGE_ESTIMATE_STEPS', 'denoising steps reserved for an image request that gives none', 50, { min: 1 }),
  imageEstimateSide: env.int('GATEWAY_IMAGE_ESTIMATE_SIDE', 'image side in pixels reserved for an image request that gives no size', 512, { min: 1 }),
};
