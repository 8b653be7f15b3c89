import { commonConfig, env } from '@aigc/runtime';

/** Environment of the text server. */
export const textConfigSpec = {
  ...commonConfig({ grpcPort: 50053, metricsPort: 9463 }),
  modelRepository: env.string('MODEL_REPOSITORY', 'directory holding models/<name>/<version>/model.onnx', ''),
  model: env.string('TEXT_MODEL', 'name of the generative model to serve', 'bigram-fortunes'),
  instances: env.int('TEXT_INSTANCES', 'ONNX Runtime sessions (worker threads) for the model', 1, { min: 1, max: 64 }),
  intraOpThreads: env.int('TEXT_INTRA_OP_THREADS', 'ONNX Runtime intra-op threads per session', 1, { min: 1, max: 256 }),
  contextWindow: env.int('TEXT_CONTEXT_WINDOW', 'most recent tokens fed to the model each step', 64, { min: 1, max: 65536 }),
  defaultMaxTokens: env.int('TEXT_DEFAULT_MAX_TOKENS', 'max_tokens when a request sets none', 64, { min: 1 }),
  maxTokensLimit: env.int('TEXT_MAX_TOKENS_LIMIT', 'largest max_tokens a request may ask for', 2048, { min: 1 }),
};
