/**
 * The platform's contracts as TypeScript: messages, grpc-js service definitions, servers and
 * clients, generated from `proto/` by ts-proto. Regenerate with `npm run generate`.
 */
export * from './gen/aigc/v1/common.js';
export * from './gen/aigc/v1/text.js';
export * from './gen/aigc/v1/image.js';
export * from './gen/aigc/v1/audio.js';
export * from './gen/aigc/v1/moderation.js';
export * from './gen/aigc/v1/billing.js';
export * from './gen/aigc/v1/orchestrator.js';
export * from './gen/aigc/v1/gateway.js';
/** Open Inference Protocol v2 (`inference.GRPCInferenceService`). */
export * as inference from './gen/inference/grpc_service.js';
