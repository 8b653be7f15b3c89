import { commonConfig, env } from '@aigc/runtime';

/** Environment of the image server. */
export const imageConfigSpec = {
  ...commonConfig({ grpcPort: 50054, metricsPort: 9464 }),
  modelRepository: env.string('MODEL_REPOSITORY', 'directory holding models/<name>/ (latent-diffusion ONNX layout)', ''),
  model: env.string('IMAGE_MODEL', 'name of the text-to-image model to serve', 'shapes-diffusion'),
  batching: env.oneOf('IMAGE_BATCHING', 'how denoiser calls are formed: step (step-level batching across requests), request (each request alone), none (one row per call)', ['step', 'request', 'none'] as const, 'step'),
  maxBatchRows: env.int('IMAGE_MAX_BATCH_ROWS', 'most denoiser rows per step-level batch (an image is 2 rows with guidance, weighted by latent area)', 32, { min: 1, max: 4096 }),
  maxQueue: env.int('IMAGE_MAX_QUEUE', 'requests waiting to join the batch, per priority level, before RESOURCE_EXHAUSTED', 64, { min: 1 }),
  queueTimeoutMs: env.int('IMAGE_QUEUE_TIMEOUT_MS', 'longest a request waits to join the batch (0: only its deadline)', 0, { min: 0 }),
  instances: env.int('IMAGE_INSTANCES', 'ONNX Runtime sessions (worker threads) of the denoiser', 1, { min: 1, max: 64 }),
  intraOpThreads: env.int('IMAGE_INTRA_OP_THREADS', 'ONNX Runtime intra-op threads per session', 1, { min: 1, max: 256 }),
  previewEvery: env.int('IMAGE_PREVIEW_EVERY', 'steps between preview images when a request asks for previews', 5, { min: 1 }),
  previewSize: env.int('IMAGE_PREVIEW_SIZE', 'longer side of preview PNGs, pixels', 64, { min: 8, max: 1024 }),
};
