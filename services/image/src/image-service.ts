import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageServiceService, inference, Modality, Usage, type GenerateImageResponse } from '@aigc/proto';
import { notFound, ServiceHost, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import { createInferenceHandlers, ModelSet, ServingMetrics } from '@aigc/serving';
import type { UsageMeter } from '@aigc/metering';
import type { imageConfigSpec } from './config.js';
import { DenoisingLoop, type DenoiseState, type IterationRows } from './denoising-loop.js';
import { DiffusionModel } from './diffusion-model.js';
import { EventChannel } from './event-channel.js';
import { resolveImageJob } from './image-job.js';

/** Configuration of the image server. */
export type ImageConfig = ConfigOf<typeof imageConfigSpec>;

/** What {@link startImageService} needs besides its config. */
export interface ImageServiceDeps {
  logger: Logger;
  meter: UsageMeter;
  /** Overrides `config.metricsPort` (`null`: no metrics endpoint, for tests). */
  metricsPort?: number | null;
  /** Sees every denoiser call's rows (tests, diagnostics). */
  onIteration?: (rows: IterationRows[]) => void;
}

/** The repository's `models/` directory, found walking up from this file. */
export function defaultModelRepository(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'models')) && existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return join(dir, 'models');
    dir = dirname(dir);
  }
  return resolve('models');
}

interface StepEvent {
  step: number;
  /** Estimate of the clean latents at this step, when a preview is due. */
  pred?: Float32Array;
  state: DenoiseState;
}

/**
 * Starts the image model server: opens the model's three ONNX parts in worker threads, serves
 * ImageService (progress, then each PNG, then usage), and meters every request, finished or not.
 */
export async function startImageService(config: ImageConfig, deps: ImageServiceDeps): Promise<ServiceHost> {
  const dir = join(config.modelRepository || defaultModelRepository(), config.model);
  const model = await DiffusionModel.open(dir, config.model, {
    instances: config.instances,
    intraOpThreads: config.intraOpThreads,
    logger: deps.logger.child({ component: 'executor' }),
  });
  const host = ServiceHost.fromConfig('image', config, deps);
  // The serving core's per-model metrics: a denoiser call is a batch, queue depth is the waiting requests.
  const metrics = new ServingMetrics(host.registry);
  const loop = new DenoisingLoop(model, {
    observer: metrics.observerFor(config.model),
    batching: config.batching,
    maxBatchRows: config.maxBatchRows,
    maxQueue: config.maxQueue,
    queueTimeoutMs: config.queueTimeoutMs,
    previewSize: config.previewSize,
    onIteration: deps.onIteration,
  });
  metrics.track(config.model, () => ({ queueDepth: loop.load.waiting, inFlight: loop.load.active, overloaded: false, ...model.denoiserLoad }));
  const { limits } = model.layout;
  // Each ONNX part is also reachable over the Open Inference Protocol, as on every model server.
  const parts = ModelSet.ofExecutors(model.parts());
  host.addService(inference.GRPCInferenceServiceService, createInferenceHandlers(parts, { serverName: 'aigc-image' }));

  const meter = (ctx: CallContext, reservationId: string, usage: Partial<Usage>) =>
    deps.meter
      .record({
        requestId: ctx.requestId,
        tenantId: ctx.tenantId,
        apiKeyId: ctx.apiKeyId,
        reservationId: ctx.reservationId || reservationId || undefined,
        model: config.model,
        modality: Modality.MODALITY_IMAGE,
        usage,
      })
      .catch((err: unknown) => ctx.logger.error('usage event not published', { error: err }));

  host.addService(ImageServiceService, {
    async *generateImage(request, ctx): AsyncGenerator<GenerateImageResponse> {
      if (request.model && request.model !== config.model) throw notFound(`model ${request.model} is not served here; try ${config.model}`);
      const job = resolveImageJob(request, limits, () => randomInt(0, 2 ** 32));
      const channel = new EventChannel<StepEvent>();
      let state: DenoiseState | undefined;
      const onStep = (s: DenoiseState) => {
        const due = job.preview && (s.step % config.previewEvery === 0 || s.step === job.steps);
        channel.push({ step: s.step, pred: due ? s.predOriginal : undefined, state: s });
      };
      const work = loop.generate(job, { signal: ctx.signal, onStart: (s) => (state = s), onStep });
      work.then(() => channel.end(), (err: unknown) => channel.fail(err));
      let finished = false;
      try {
        for await (const event of channel) {
          const previews = event.pred ? await loop.preview({ ...event.state, predOriginal: event.pred }, ctx.signal) : [];
          for (let i = 0; i < job.n; i++) {
            yield { event: { $case: 'progress', progress: { imageIndex: i, step: event.step, totalSteps: job.steps, previewPng: previews[i] ?? Buffer.alloc(0) } } };
          }
        }
        const result = await work;
        for (const [i, png] of result.pngs.entries()) {
          yield { event: { $case: 'image', image: { imageIndex: i, png, seed: result.seeds[i]! } } };
        }
        finished = true;
        const usage = usageOf(job.n, job.n, result.steps, job.width * job.height, result.computeMs);
        yield { event: { $case: 'usage', usage } };
        ctx.logger.info('generated', { model: config.model, images: job.n, steps: job.steps, width: job.width, height: job.height, compute_ms: Math.round(result.computeMs) });
      } finally {
        // Work done is metered whether the request finished, failed or was cancelled.
        const done = state;
        if (done && (finished || done.step > 0)) {
          await meter(ctx, request.reservationId, usageOf(finished ? job.n : 0, job.n, done.step, job.width * job.height, done.computeMs));
        }
        work.catch(() => undefined);
      }
    },
  });
  host.onShutdown(async () => {
    await Promise.all([loop.drain(), parts.close()]);
    await model.close();
  });
  await host.start();
  return host;
}

/** Usage of one request: `steps` counts denoising steps summed over its images; pixels count delivered images. */
function usageOf(delivered: number, n: number, steps: number, pixelsPerImage: number, computeMs: number): Usage {
  return Usage.fromPartial({ images: delivered, steps: steps * n, pixels: delivered * pixelsPerImage, computeMs });
}
