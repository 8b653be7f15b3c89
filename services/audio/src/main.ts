#!/usr/bin/env node
import { connectBus, provision } from '@aigc/bus';
import { UsageMeter } from '@aigc/metering';
import { runService } from '@aigc/runtime';
import { startAudioService } from './audio-service.js';
import { audioConfigSpec } from './config.js';

await runService({
  name: 'audio',
  spec: audioConfigSpec,
  async start(config, { logger }) {
    const bus = await connectBus({ servers: config.natsUrl, name: 'audio', logger: logger.child({ component: 'bus' }) });
    await provision(bus, { logger });
    const host = await startAudioService(config, { logger, meter: new UsageMeter(bus, 'audio') });
    return host.onShutdown(() => bus.drain());
  },
});
