import { FinishReason, GenerateResponse, Modality, TextServiceService, Usage, type GenerateRequest } from '@aigc/proto';
import { invalidArgument, ServiceError, ServiceHost, Status, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import { createExecutor } from '@aigc/serving';
import type { UsageMeter } from '@aigc/metering';
import type { textConfigSpec } from './config.js';
import { ByteLevelGenerator, type GeneratedChunk, type GenerationStats } from './generator.js';
import { defaultModelRepository, newestModelFile } from './model-files.js';
import { resolveSampling } from './sampler.js';

/** Configuration of the text server. */
export type TextConfig = ConfigOf<typeof textConfigSpec>;

/** Longest prompt accepted, in bytes. */
const MAX_PROMPT_BYTES = 64 * 1024;

/**
 * Starts the text model server: opens the model's ONNX Runtime sessions in worker threads,
 * serves TextService, and meters every request to the usage stream.
 */
export async function startTextService(config: TextConfig, deps: { logger: Logger; meter: UsageMeter; metricsPort?: number | null }): Promise<ServiceHost> {
  const repository = config.modelRepository || defaultModelRepository();
  const { path, version } = newestModelFile(repository, config.model);
  const executor = await createExecutor({
    modelPath: path,
    name: config.model,
    instances: config.instances,
    intraOpThreads: config.intraOpThreads,
    logger: deps.logger.child({ component: 'executor' }),
  });
  const generator = new ByteLevelGenerator(executor, config.contextWindow);
  const host = new ServiceHost({
    name: 'text',
    host: config.grpcHost,
    port: config.grpcPort,
    metricsPort: deps.metricsPort === undefined ? config.metricsPort : deps.metricsPort,
    logger: deps.logger,
    shutdownGraceMs: config.shutdownGraceMs,
  });

  const run = async function* (request: GenerateRequest, ctx: CallContext, stats: GenerationStats): AsyncGenerator<GeneratedChunk> {
    if (request.model && request.model !== config.model) throw new ServiceError(Status.NOT_FOUND, `model ${request.model} is not served here; try ${config.model}`);
    if (Buffer.byteLength(request.prompt, 'utf8') > MAX_PROMPT_BYTES) throw invalidArgument(`prompt must be at most ${MAX_PROMPT_BYTES} bytes`);
    const settings = resolveSampling(request.sampling, config);
    let finished = false;
    try {
      yield* generator.generate(request.prompt, settings, ctx.signal, stats);
      finished = true;
    } finally {
      // Work done is metered whether the request finished, failed or was cancelled.
      if (stats.completionTokens > 0 || finished) {
        await deps.meter
          .record({
            requestId: ctx.requestId,
            tenantId: ctx.tenantId,
            apiKeyId: ctx.apiKeyId,
            reservationId: ctx.reservationId || request.reservationId || undefined,
            model: config.model,
            modality: Modality.MODALITY_TEXT,
            usage: { promptTokens: stats.promptTokens, completionTokens: stats.completionTokens, computeMs: stats.computeMs },
          })
          .catch((err: unknown) => ctx.logger.error('usage event not published', { error: err }));
      }
    }
    ctx.logger.info('generated', { model: config.model, prompt_tokens: stats.promptTokens, completion_tokens: stats.completionTokens, compute_ms: Math.round(stats.computeMs) });
  };
  const newStats = (): GenerationStats => ({ promptTokens: 0, completionTokens: 0, computeMs: 0 });

  host.addService(TextServiceService, {
    async generate(request, ctx) {
      const stats = newStats();
      let text = '';
      let finishReason = FinishReason.FINISH_REASON_UNSPECIFIED;
      for await (const chunk of run(request, ctx, stats)) {
        text += chunk.delta;
        if (chunk.finishReason) finishReason = chunk.finishReason;
      }
      return GenerateResponse.fromPartial({ model: config.model, text, finishReason, usage: Usage.fromPartial(stats) });
    },
    async *generateStream(request, ctx) {
      const stats = newStats();
      for await (const chunk of run(request, ctx, stats)) {
        const last = chunk.finishReason !== undefined;
        yield {
          delta: chunk.delta,
          logprobs: [],
          finishReason: chunk.finishReason ?? FinishReason.FINISH_REASON_UNSPECIFIED,
          usage: last ? Usage.fromPartial(stats) : undefined,
        };
      }
    },
    async embed() {
      throw new ServiceError(Status.UNIMPLEMENTED, 'embeddings are not served yet: the embedding model arrives with the [text] issue');
    },
    async listModels() {
      return {
        models: [{ id: config.model, modality: Modality.MODALITY_TEXT, ownedBy: 'aigc', createdAtMs: 0, description: `version ${version}` }],
      };
    },
  });
  host.onShutdown(() => executor.close());
  await host.start();
  return host;
}
