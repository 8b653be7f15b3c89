#!/usr/bin/env node
import { connectBus, provision } from '@aigc/bus';
import { runService } from '@aigc/runtime';
import { moderationConfigSpec } from './config.js';
import { startModerationService } from './moderation-service.js';

await runService({
  name: 'moderation',
  spec: moderationConfigSpec,
  async start(config, { logger }) {
    const bus = await connectBus({ servers: config.natsUrl, name: 'moderation', logger: logger.child({ component: 'bus' }) });
    await provision(bus, { logger });
    return startModerationService(config, { logger, bus });
  },
});
