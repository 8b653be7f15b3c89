#!/usr/bin/env node
import { connectBus, provision } from '@aigc/bus';
import { UsageMeter } from '@aigc/metering';
import { runService } from '@aigc/runtime';
import { textConfigSpec } from './config.js';
import { startTextService } from './text-service.js';

await runService({
  name: 'text',
  spec: textConfigSpec,
  async start(config, { logger }) {
    const bus = await connectBus({ servers: config.natsUrl, name: 'text', logger: logger.child({ component: 'bus' }) });
    await provision(bus, { logger });
    const host = await startTextService(config, { logger, meter: new UsageMeter(bus, 'text') });
    return host.onShutdown(() => bus.drain());
  },
});
