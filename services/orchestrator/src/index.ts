export { orchestratorConfigSpec } from './config.js';
export { startOrchestratorService, type OrchestratorConfig } from './orchestrator-service.js';
export { renderChatPrompt } from './chat-prompt.js';
