#!/usr/bin/env node
import { AudioServiceService } from '@aigc/proto';
import { commonConfig, runService, ServiceHost, unimplementedHandlers } from '@aigc/runtime';

/**
 * The audio service's skeleton: it deploys, reports SERVING, and answers reflection, while every
 * method answers UNIMPLEMENTED until the [audio] issue lands its capability.
 */
await runService({
  name: 'audio',
  spec: commonConfig({ grpcPort: 50055, metricsPort: 9465 }),
  async start(config, { logger }) {
    const host = new ServiceHost({
      name: 'audio',
      host: config.grpcHost,
      port: config.grpcPort,
      metricsPort: config.metricsPort,
      logger,
      shutdownGraceMs: config.shutdownGraceMs,
    });
    host.addService(AudioServiceService, unimplementedHandlers(AudioServiceService, 'arrives with the [audio] issue'));
    await host.start();
    return host;
  },
});
