/**
 * Model serving core: worker-thread ONNX Runtime executors, dynamic batching, iteration-level
 * scheduling, a model repository and the Open Inference Protocol v2 service.
 */
export { silentLogger, type Logger, type LogFields } from './logger.js';
export {
  tensor,
  toNumbers,
  toDatatype,
  fromDatatype,
  elementCount,
  type Tensor,
  type TensorMap,
  type TensorType,
  type TensorData,
} from './tensor.js';
export type { ExecutionProviderConfig, TensorInfo, WorkerExtension, WorkerExtensionContext, WorkerExtensionResult, PrepareModel } from './executor-protocol.js';
export { createExecutor, OnnxExecutor, PIPELINE_DEPTH, type ExecutorOptions, type RunOptions, type RunResult, type CallOptions, type CallResult } from './executor.js';
export {
  DynamicBatcher,
  type DynamicBatcherOptions,
  type SubmitOptions,
  type QueuePolicy,
  type BatcherObserver,
  type RejectReason,
} from './dynamic-batcher.js';
export { LatencyModel } from './latency-model.js';
export {
  IterationScheduler,
  type IterationSchedulerOptions,
  type IterationSubmitOptions,
  type IterationStep,
} from './iteration-scheduler.js';
export {
  parseModelConfig,
  configFromSession,
  ModelConfigError,
  type ModelConfig,
  type InputConfig,
  type OutputConfig,
  type BatchingConfig,
  type QueuePolicyConfig,
} from './model-config.js';
export { ServedModel, type InferOptions, type ServedModelOptions } from './served-model.js';
export { ModelRepository, type ModelRepositoryOptions, type ModelIndexEntry } from './model-repository.js';
export { ServingMetrics, type ModelLoad } from './serving-metrics.js';
export {
  createInferenceHandlers,
  ModelSet,
  type ModelRegistry,
  type InferenceHandlers,
  type InferenceServiceOptions,
  type CallContext,
  type UnaryHandler,
} from './oip-service.js';
export { decodeInputs, encodeOutputs } from './oip-codec.js';
