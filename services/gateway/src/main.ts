#!/usr/bin/env node
import { runService } from '@aigc/runtime';
import { gatewayConfigSpec } from './config.js';
import { startGatewayService } from './gateway-service.js';

await runService({
  name: 'gateway',
  spec: gatewayConfigSpec,
  start: (config, { logger }) => startGatewayService(config, { logger }),
});
