#!/usr/bin/env node
import { connectBus, provision } from '@aigc/bus';
import { UsageMeter } from '@aigc/metering';
import { runService } from '@aigc/runtime';
import { imageConfigSpec } from './config.js';
import { startImageService } from './image-service.js';

/** The image model server: load config, connect NATS, open the model, serve, meter usage. */
await runService({
  name: 'image',
  spec: imageConfigSpec,
  async start(config, { logger }) {
    const bus = await connectBus({ servers: config.natsUrl, name: 'image', logger: logger.child({ component: 'bus' }) });
    await provision(bus, { logger });
    const host = await startImageService(config, { logger, meter: new UsageMeter(bus, 'image') });
    return host.onShutdown(() => bus.drain());
  },
});
