#!/usr/bin/env node
import { ModerationServiceService } from '@aigc/proto';
import { commonConfig, runService, ServiceHost, unimplementedHandlers } from '@aigc/runtime';

/**
 * The moderation service's skeleton: it deploys, reports SERVING, and answers reflection, while every
 * method answers UNIMPLEMENTED until the [moderation] issue lands its capability.
 */
await runService({
  name: 'moderation',
  spec: commonConfig({ grpcPort: 50056, metricsPort: 9466 }),
  async start(config, { logger }) {
    const host = new ServiceHost({
      name: 'moderation',
      host: config.grpcHost,
      port: config.grpcPort,
      metricsPort: config.metricsPort,
      logger,
      shutdownGraceMs: config.shutdownGraceMs,
    });
    host.addService(ModerationServiceService, unimplementedHandlers(ModerationServiceService, 'arrives with the [moderation] issue'));
    await host.start();
    return host;
  },
});
