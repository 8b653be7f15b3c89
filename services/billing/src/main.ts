#!/usr/bin/env node
import { connectBus, provision } from '@aigc/bus';
import { runService } from '@aigc/runtime';
import { startBillingService } from './billing-service.js';
import { billingConfigSpec } from './config.js';

await runService({
  name: 'billing',
  spec: billingConfigSpec,
  async start(config, { logger }) {
    const bus = await connectBus({ servers: config.natsUrl, name: 'billing', logger: logger.child({ component: 'bus' }) });
    await provision(bus, { logger });
    return startBillingService(config, { logger, bus });
  },
});
