import { commonConfig, env } from '@aigc/runtime';

/** Environment of the gateway. */
export const gatewayConfigSpec = {
  ...commonConfig({ grpcPort: 50051, metricsPort: 9461 }),
  orchestratorAddr: env.address('ORCHESTRATOR_ADDR', 'orchestrator', '127.0.0.1:50052'),
  billingAddr: env.address('BILLING_ADDR', 'billing service (API keys)', '127.0.0.1:50057'),
  moderationAddr: env.address('MODERATION_ADDR', 'moderation service', '127.0.0.1:50056'),
};
