import { commonConfig, env } from '@aigc/runtime';

/** Environment of the text server. Model-specific defaults live in `models/<name>/config.json`. */
export const textConfigSpec = {
  ...commonConfig({ grpcPort: 50053, metricsPort: 9463 }),
  modelRepository: env.string('MODEL_REPOSITORY', 'directory holding models/<name>/config.json, tokenizer.json and <version>/model.onnx (default: the repository\'s models/)', ''),
  model: env.string('TEXT_MODEL', 'name of the generative model to serve', 'fortunes-gpt'),
  embeddingModel: env.string('TEXT_EMBEDDING_MODEL', 'name of the embedding model to serve; `none` serves none', 'fortunes-embed'),
  instances: env.int('TEXT_INSTANCES', 'ONNX Runtime sessions (worker threads) for the generative model; 0 = its config.json', 0, { min: 0, max: 64 }),
  intraOpThreads: env.int('TEXT_INTRA_OP_THREADS', 'ONNX Runtime intra-op threads per session; 0 = its config.json', 0, { min: 0, max: 256 }),
  contextWindow: env.int('TEXT_CONTEXT_WINDOW', 'most tokens (prompt + completion) one sequence may hold, capped by the model\'s context; 0 = the model\'s context', 0, { min: 0, max: 1 << 20 }),
  defaultMaxTokens: env.int('TEXT_DEFAULT_MAX_TOKENS', 'max_tokens when a request sets none', 64, { min: 1 }),
  maxTokensLimit: env.int('TEXT_MAX_TOKENS_LIMIT', 'largest max_tokens a request may ask for', 2048, { min: 1 }),
  batching: env.oneOf('TEXT_BATCHING', 'generation batching: continuous (iteration-level), request (whole-request batches) or none', ['continuous', 'request', 'none'] as const, 'continuous'),
  maxActive: env.int('TEXT_MAX_ACTIVE', 'most sequences in the running batch; 0 = config.json text.scheduler.maxActive', 0, { min: 0, max: 4096 }),
  stepTokens: env.int('TEXT_STEP_TOKENS', 'token budget of one decode step (decode tokens + prefill chunk tokens); 0 = config.json', 0, { min: 0 }),
  prefillChunk: env.int('TEXT_PREFILL_CHUNK', 'longest prompt chunk one sequence prefills per step; 0 = config.json', 0, { min: 0 }),
  kvCacheTokens: env.int('TEXT_KV_CACHE_TOKENS', 'KV-cache budget in tokens over admitted sequences (prompt + max new tokens each); 0 = config.json', 0, { min: 0 }),
};
