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
};
