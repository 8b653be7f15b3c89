export { textConfigSpec } from './config.js';
export { startTextService, type TextConfig } from './text-service.js';
