/**
 * Opens a generative model from its spec: the ONNX sessions (worker threads), the tokenizer, and
 * the runner of the chosen batching mode, wired into a {@link TextGenerator}.
 */
import { createExecutor, type BatcherObserver, type Logger, type OnnxExecutor } from '@aigc/serving';
import { ContinuousBatcher, ShardedBatcher } from './continuous-batcher.js';
import { DECODER_EXTENSION, DecoderModel } from './decoder-model.js';
import type { SchedulerSpec, TextModelSpec } from './model-spec.js';
import { RequestBatcher } from './request-batcher.js';
import { TextGenerator, type SequenceRunner } from './text-generator.js';
import { TextTokenizer } from './text-tokenizer.js';

/** How requests are batched: iteration-level, whole requests, or one at a time. */
export type BatchingMode = 'continuous' | 'request' | 'none';

/** Overrides of the model's config.json; 0 or absent keeps the config value. */
export interface GeneratorOptions {
  batching?: BatchingMode;
  instances?: number;
  intraOpThreads?: number;
  contextWindow?: number;
  scheduler?: Partial<SchedulerSpec>;
  /** Request-level mode: longest the oldest request waits for its batch to fill. */
  maxQueueDelayMs?: number;
  logger?: Logger;
  /** Serving metrics hooks: a batch is a decode step (continuous) or a request batch (request, none). */
  observer?: BatcherObserver;
}

/** An open generative model. */
export interface OpenGenerator {
  generator: TextGenerator;
  runner: SequenceRunner;
  model: DecoderModel;
  executor: OnnxExecutor;
  scheduler: SchedulerSpec;
  contextLength: number;
  /** Finishes admitted work, then closes the sessions. */
  close(): Promise<void>;
}

const pick = (override: number | undefined, fallback: number): number => (override && override > 0 ? override : fallback);

/** Opens `spec` for generation; see the module comment. */
export async function openGenerator(spec: TextModelSpec, options: GeneratorOptions = {}): Promise<OpenGenerator> {
  const executor = await createExecutor({
    modelPath: spec.modelPath,
    name: spec.name,
    instances: pick(options.instances, spec.serving.instances.count),
    intraOpThreads: pick(options.intraOpThreads, spec.serving.instances.intraOpThreads),
    interOpThreads: spec.serving.instances.interOpThreads,
    executionProviders: spec.serving.executionProviders,
    // The KV caches live in the workers, beside the sessions.
    extension: DECODER_EXTENSION,
    logger: options.logger,
  });
  try {
    const model = new DecoderModel(executor, spec.name);
    const tokenizer = TextTokenizer.fromFile(spec.tokenizerPath, spec.tokenizerConfigPath);
    const o = options.scheduler ?? {};
    const scheduler: SchedulerSpec = {
      maxActive: pick(o.maxActive, spec.scheduler.maxActive),
      maxStepTokens: pick(o.maxStepTokens, spec.scheduler.maxStepTokens),
      prefillChunk: pick(o.prefillChunk, spec.scheduler.prefillChunk),
      kvCacheTokens: pick(o.kvCacheTokens, spec.scheduler.kvCacheTokens),
      maxBufferedTokens: pick(o.maxBufferedTokens, spec.scheduler.maxBufferedTokens),
    };
    const contextLength = Math.min(spec.contextLength, pick(options.contextWindow, spec.contextLength));
    const { priorityLevels, queuePolicies } = spec.serving.batching;
    const mode = options.batching ?? 'continuous';
    const continuous = (instance?: number) =>
      new ContinuousBatcher(model, { ...scheduler, priorityLevels, queuePolicy: queuePolicies, logger: options.logger, observer: options.observer, instance });
    const instances = executor.instanceCount;
    const runner: SequenceRunner =
      mode === 'continuous'
        ? instances === 1
          ? continuous()
          : new ShardedBatcher(Array.from({ length: instances }, (_, i) => continuous(i)))
        : new RequestBatcher(model, {
            maxBatchSize: mode === 'none' ? 1 : scheduler.maxActive,
            kvCacheTokens: scheduler.kvCacheTokens,
            maxConcurrentBatches: instances,
            maxQueueDelayMs: options.maxQueueDelayMs ?? spec.serving.batching.maxQueueDelayMs,
            priorityLevels,
            queuePolicy: queuePolicies,
            logger: options.logger,
            observer: options.observer,
          });
    const generator = new TextGenerator(tokenizer, { contextLength, eosTokenIds: spec.eosTokenIds }, runner);
    return {
      generator, runner, model, executor, scheduler, contextLength,
      async close() {
        await runner.drain();
        await executor.close();
      },
    };
  } catch (err) {
    await executor.close();
    throw err;
  }
}
