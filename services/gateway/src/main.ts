#!/usr/bin/env node
import { connectBus } from '@aigc/bus';
import { runService } from '@aigc/runtime';
import { gatewayConfigSpec } from './config.js';
import { startGatewayService } from './gateway-service.js';

await runService({
  name: 'gateway',
  spec: gatewayConfigSpec,
  async start(config, { logger }) {
    // NATS carries billing's key-change broadcast, which clears the gateway's key cache.
    const bus = await connectBus({ servers: config.natsUrl, name: 'gateway', logger: logger.child({ component: 'bus' }) });
    const host = await startGatewayService(config, { logger, bus });
    return host.onShutdown(() => bus.drain());
  },
});
