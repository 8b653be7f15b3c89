#!/usr/bin/env node
import { ImageServiceService } from '@aigc/proto';
import { commonConfig, runService, ServiceHost, unimplementedHandlers } from '@aigc/runtime';

/**
 * The image service's skeleton: it deploys, reports SERVING, and answers reflection, while every
 * method answers UNIMPLEMENTED until the [image] issue lands its capability.
 */
await runService({
  name: 'image',
  spec: commonConfig({ grpcPort: 50054, metricsPort: 9464 }),
  async start(config, { logger }) {
    const host = new ServiceHost({
      name: 'image',
      host: config.grpcHost,
      port: config.grpcPort,
      metricsPort: config.metricsPort,
      logger,
      shutdownGraceMs: config.shutdownGraceMs,
    });
    host.addService(ImageServiceService, unimplementedHandlers(ImageServiceService, 'arrives with the [image] issue'));
    await host.start();
    return host;
  },
});
