import { FinishReason, GenerateResponse, inference, Modality, Priority, TextServiceService, Usage, type GenerateRequest, type TokenLogprob } from '@aigc/proto';
import { createInferenceHandlers, ModelSet, ServingMetrics } from '@aigc/serving';
import { Counter } from 'prom-client';
import { invalidArgument, ServiceError, ServiceHost, Status, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import type { UsageMeter } from '@aigc/metering';
import type { textConfigSpec } from './config.js';
import { bytesPerToken } from './kv-cache.js';
import { readModelSpec, defaultModelRepository } from './model-spec.js';
import { openGenerator } from './open-generator.js';
import { resolveSampling } from './sampling-params.js';
import { TextEmbedder } from './text-embedder.js';

/** Configuration of the text server. */
export type TextConfig = ConfigOf<typeof textConfigSpec>;

/** Longest prompt accepted, in bytes (the context bounds it in tokens). */
const MAX_PROMPT_BYTES = 64 * 1024;

/** Queue level of a request's priority (1 = high); unspecified is normal. */
export function priorityLevel(p: Priority | undefined): number {
  if (p === Priority.PRIORITY_HIGH) return 1;
  if (p === Priority.PRIORITY_LOW) return 3;
  if (p === undefined || p === Priority.PRIORITY_UNSPECIFIED || p === Priority.PRIORITY_NORMAL) return 2;
  throw invalidArgument(`priority must be one of PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_LOW (got ${p})`);
}

interface RequestStats {
  promptTokens: number;
  completionTokens: number;
  computeMs: number;
}

/**
 * Starts the text model server: the generative model behind a continuous batcher, the embedding
 * model behind a dynamic batcher, both in worker threads; every request is metered to the usage
 * stream with its prompt and completion tokens and the compute time charged to it.
 */
export async function startTextService(config: TextConfig, deps: { logger: Logger; meter: UsageMeter; metricsPort?: number | null }): Promise<ServiceHost> {
  const repository = config.modelRepository || defaultModelRepository();
  const spec = readModelSpec(repository, config.model);
  if (spec.task !== 'generate') throw new ServiceError(Status.FAILED_PRECONDITION, `TEXT_MODEL ${config.model} is not a generative model (text.task is ${spec.task})`);
  const host = ServiceHost.fromConfig('text', config, deps);
  // The serving core's per-model metrics: for continuous batching a batch is one decode step (its
  // rows are the sequences that ran a pass), queue depth the sequences waiting to join.
  const metrics = new ServingMetrics(host.registry);
  const opened = await openGenerator(spec, {
    observer: metrics.observerFor(config.model),
    batching: config.batching,
    instances: config.instances,
    intraOpThreads: config.intraOpThreads,
    contextWindow: config.contextWindow,
    scheduler: { maxActive: config.maxActive, maxStepTokens: config.stepTokens, prefillChunk: config.prefillChunk, kvCacheTokens: config.kvCacheTokens },
    logger: deps.logger.child({ component: 'generate' }),
  });
  const { generator } = opened;
  metrics.track(config.model, () => {
    const load = opened.runner.load();
    return { queueDepth: load.waiting, inFlight: load.active, overloaded: false, instances: opened.executor.instanceCount, busyTimeMs: opened.executor.busyTimeMs() };
  });
  const tokens = new Counter({ name: 'text_tokens_total', help: 'Tokens of generation requests by kind: prompt (read) and completion (generated).', labelNames: ['model', 'kind'], registers: [host.registry] });
  const finished = new Counter({
    name: 'text_generations_total',
    help: 'Generation requests that ended, by finish reason (stop, length, content_filter; cancelled when the caller left or the deadline passed, error otherwise).',
    labelNames: ['model', 'reason'],
    registers: [host.registry],
  });
  const kvMiB = (opened.scheduler.kvCacheTokens * bytesPerToken(opened.model.geometry)) / 2 ** 20;
  deps.logger.info('generative model ready', {
    model: config.model, version: spec.version, batching: config.batching, context: opened.contextLength,
    max_active: opened.scheduler.maxActive, kv_cache_tokens: opened.scheduler.kvCacheTokens, kv_cache_mib: Math.round(kvMiB * 10) / 10,
  });
  let embedder: TextEmbedder | undefined;
  try {
    if (config.embeddingModel && config.embeddingModel !== 'none') {
      const loaded = await TextEmbedder.load(readModelSpec(repository, config.embeddingModel), deps.logger.child({ component: 'embed' }), metrics.observerFor(config.embeddingModel));
      metrics.track(config.embeddingModel, () => ({ queueDepth: loaded.model.queueDepth, inFlight: loaded.model.inFlight, overloaded: loaded.model.overloaded, instances: loaded.model.executor.instanceCount, busyTimeMs: loaded.model.executor.busyTimeMs() }));
      embedder = loaded;
    }
  } catch (err) {
    await opened.close();
    throw err;
  }
  // The embedding model is also reachable over the Open Inference Protocol, as on every model server
  // (the generative model is not: its KV caches live in the continuous batcher's sequences).
  if (embedder) host.addService(inference.GRPCInferenceServiceService, createInferenceHandlers(new ModelSet([embedder.model]), { serverName: 'aigc-text' }));

  const meter = (ctx: CallContext, model: string, reservationId: string, stats: RequestStats) =>
    deps.meter
      .record({
        requestId: ctx.requestId,
        tenantId: ctx.tenantId,
        apiKeyId: ctx.apiKeyId,
        reservationId: ctx.reservationId || reservationId || undefined,
        model,
        modality: Modality.MODALITY_TEXT,
        usage: { promptTokens: stats.promptTokens, completionTokens: stats.completionTokens, computeMs: stats.computeMs },
      })
      .catch((err: unknown) => ctx.logger.error('usage event not published', { error: err }));

  /** Streams one generation; `stats` and `finish` are filled as it runs; usage is metered at the end. */
  const run = async function* (request: GenerateRequest, ctx: CallContext, stats: RequestStats, finish: { reason: FinishReason }) {
    if (request.model && request.model !== config.model) throw new ServiceError(Status.NOT_FOUND, `model ${request.model} is not served here; try ${config.model}`);
    if (Buffer.byteLength(request.prompt, 'utf8') > MAX_PROMPT_BYTES) throw invalidArgument(`prompt must be at most ${MAX_PROMPT_BYTES} bytes`);
    const settings = resolveSampling(request.sampling, config);
    const seq = generator.prepare(request.prompt, settings, priorityLevel(request.priority));
    stats.promptTokens = seq.promptIds.length;
    // How it ended when no finish reason was reached: a consumer that stops reading has left.
    let outcome = 'cancelled';
    try {
      yield* generator.stream(seq, { signal: ctx.signal, deadline: ctx.deadline?.getTime() });
      finish.reason = seq.finishReason ?? FinishReason.FINISH_REASON_STOP;
    } catch (err) {
      const code = ServiceError.from(err).code;
      if (code !== Status.CANCELLED && code !== Status.DEADLINE_EXCEEDED) outcome = 'error';
      throw err;
    } finally {
      stats.completionTokens = seq.generatedIds.length;
      stats.computeMs = seq.computeMs;
      tokens.inc({ model: config.model, kind: 'prompt' }, stats.promptTokens);
      tokens.inc({ model: config.model, kind: 'completion' }, stats.completionTokens);
      finished.inc({ model: config.model, reason: finish.reason !== FinishReason.FINISH_REASON_UNSPECIFIED ? finishReasonLabel(finish.reason) : outcome });
      // Work done is metered whether the request finished, failed or was cancelled.
      if (stats.completionTokens > 0 || finish.reason !== FinishReason.FINISH_REASON_UNSPECIFIED) await meter(ctx, config.model, request.reservationId, stats);
      ctx.logger.info('generated', { model: config.model, prompt_tokens: stats.promptTokens, completion_tokens: stats.completionTokens, compute_ms: Math.round(stats.computeMs) });
    }
  };
  const newStats = (): RequestStats => ({ promptTokens: 0, completionTokens: 0, computeMs: 0 });

  host.addService(TextServiceService, {
    async generate(request, ctx) {
      const stats = newStats();
      const finish = { reason: FinishReason.FINISH_REASON_UNSPECIFIED };
      let text = '';
      const logprobs: TokenLogprob[] = [];
      for await (const event of run(request, ctx, stats, finish)) {
        text += event.delta;
        logprobs.push(...event.logprobs);
      }
      return GenerateResponse.fromPartial({ model: config.model, text, finishReason: finish.reason, usage: Usage.fromPartial(stats), logprobs });
    },
    async *generateStream(request, ctx) {
      const stats = newStats();
      const finish = { reason: FinishReason.FINISH_REASON_UNSPECIFIED };
      for await (const event of run(request, ctx, stats, finish)) {
        yield { delta: event.delta, logprobs: event.logprobs, finishReason: FinishReason.FINISH_REASON_UNSPECIFIED, usage: undefined };
      }
      yield { delta: '', logprobs: [], finishReason: finish.reason, usage: Usage.fromPartial(stats) };
    },
    async embed(request, ctx) {
      if (!embedder) throw new ServiceError(Status.UNIMPLEMENTED, 'this text server serves no embedding model (TEXT_EMBEDDING_MODEL is none)');
      const name = embedder.spec.name;
      if (request.model && request.model !== name) throw new ServiceError(Status.NOT_FOUND, `model ${request.model} is not served here; try ${name}`);
      const started = performance.now();
      const { vectors, tokens } = await embedder.embed(request.inputs, { priority: priorityLevel(request.priority), signal: ctx.signal, deadline: ctx.deadline?.getTime() });
      const stats = { promptTokens: tokens, completionTokens: 0, computeMs: performance.now() - started };
      await meter(ctx, name, request.reservationId, stats);
      return { model: name, embeddings: vectors.map((v) => ({ values: Array.from(v) })), usage: Usage.fromPartial(stats) };
    },
    async listModels() {
      const models = [{ id: config.model, modality: Modality.MODALITY_TEXT, ownedBy: 'aigc', createdAtMs: 0, description: `generative, version ${spec.version}, context ${opened.contextLength} tokens` }];
      if (embedder) models.push({ id: embedder.spec.name, modality: Modality.MODALITY_TEXT, ownedBy: 'aigc', createdAtMs: 0, description: `embeddings, version ${embedder.spec.version}` });
      return { models };
    },
  });
  host.onShutdown(async () => {
    await opened.close();
    await embedder?.close();
  });
  await host.start();
  return host;
}

/** `FINISH_REASON_STOP` -> `stop`, for metric labels. */
function finishReasonLabel(reason: FinishReason): string {
  return (FinishReason[reason] ?? String(reason)).replace(/^FINISH_REASON_/, '').toLowerCase();
}
