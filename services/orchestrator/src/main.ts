#!/usr/bin/env node
import { runService } from '@aigc/runtime';
import { orchestratorConfigSpec } from './config.js';
import { startOrchestratorService } from './orchestrator-service.js';

await runService({
  name: 'orchestrator',
  spec: orchestratorConfigSpec,
  start: (config, { logger }) => startOrchestratorService(config, { logger }),
});
