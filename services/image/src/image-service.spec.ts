import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { connectBus, CONSUMERS, provision, STREAMS, type Bus } from '@aigc/bus';
import { decodeUsageEvent, UsageMeter } from '@aigc/metering';
import { ImageServiceClient, Modality, Scheduler, type GenerateImageRequest, type GenerateImageResponse } from '@aigc/proto';
import { loadConfig, silentLogger, type ServiceHost } from '@aigc/runtime';
import { createHarness } from '@aigc/testing';
import { imageConfigSpec } from './config.js';
import { startImageService } from './image-service.js';
import { decodePng } from './png-decoder.js';

const harness = createHarness();
let bus: Bus;
let host: ServiceHost;
let client: ImageServiceClient;

beforeAll(async () => {
  const nats = await harness.nats();
  bus = await connectBus({ servers: nats.url, name: 'image-spec' });
  await provision(bus);
  const config = loadConfig(imageConfigSpec, { GRPC_PORT: '0', GRPC_HOST: '127.0.0.1', NATS_URL: nats.url, LOG_LEVEL: 'silent' });
  host = await startImageService(config, { logger: silentLogger, meter: new UsageMeter(bus, 'image'), metricsPort: null });
  client = new ImageServiceClient(`127.0.0.1:${host.port}`, credentials.createInsecure());
});
afterAll(async () => {
  client?.close();
  await host?.shutdown();
  await bus?.drain();
  await harness.close();
});

function generate(request: Partial<GenerateImageRequest>, metadata = new Metadata()): Promise<GenerateImageResponse[]> {
  return new Promise((resolve, reject) => {
    const out: GenerateImageResponse[] = [];
    const call = client.generateImage({ model: '', prompt: '', negativePrompt: '', width: 0, height: 0, steps: 0, n: 0, scheduler: 0, priority: 0, preview: false, reservationId: '', ...request }, metadata);
    call.on('data', (m: GenerateImageResponse) => out.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

describe('ImageService.GenerateImage', () => {
  it('streams step i of N, then every PNG, then usage, and publishes the usage event', async () => {
    const metadata = new Metadata();
    metadata.set('x-request-id', 'img-req-1');
    const events = await generate({ prompt: 'two green squares', steps: 6, n: 2, seed: 42, preview: true, scheduler: Scheduler.SCHEDULER_EULER }, metadata);
    const progress = events.flatMap((e) => (e.event?.$case === 'progress' ? [e.event.progress] : []));
    const images = events.flatMap((e) => (e.event?.$case === 'image' ? [e.event.image] : []));
    expect(progress.filter((p) => p.imageIndex === 0).map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(progress.every((p) => p.totalSteps === 6)).toBe(true);
    // Previews every IMAGE_PREVIEW_EVERY (5) steps and at the last one.
    expect(progress.filter((p) => p.previewPng.length > 0).map((p) => p.step)).toEqual([5, 5, 6, 6]);
    for (const p of progress.filter((p) => p.previewPng.length > 0)) expect(decodePng(p.previewPng).width).toBe(32);
    expect(images.map((i) => [i.imageIndex, i.seed])).toEqual([[0, 42], [1, 43]]);
    for (const i of images) expect(decodePng(i.png)).toMatchObject({ width: 32, height: 32, channels: 3 });
    const last = events.at(-1)!.event;
    expect(last?.$case).toBe('usage');
    const usage = last?.$case === 'usage' ? last.usage : undefined;
    expect(usage).toMatchObject({ images: 2, steps: 12, pixels: 2 * 32 * 32 });
    expect(usage!.computeMs).toBeGreaterThan(0);

    const consumer = await bus.js.consumers.get(STREAMS.usage.name, CONSUMERS.billingLedger.name);
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg).not.toBeNull();
    const event = decodeUsageEvent(msg!.data);
    msg!.ack();
    expect(msg!.subject).toBe('aigc.usage.image');
    expect(event).toMatchObject({ service: 'image', model: 'shapes-diffusion', modality: Modality.MODALITY_IMAGE, requestId: 'img-req-1', usage: { images: 2, steps: 12, pixels: 2048 } });
  });

  it('reports the serving metrics of its denoiser batches', async () => {
    const text = await host.registry.metrics();
    // Six denoiser calls (steps) of the first request; labels in prom-client's order.
    expect(text).toMatch(/aigc_serving_batch_size_count\{[^}]*model="shapes-diffusion"[^}]*\} 6\n/);
    expect(text).toMatch(/aigc_serving_requests_succeeded_total\{[^}]*model="shapes-diffusion"[^}]*\} 1\n/);
    expect(text).toMatch(/aigc_serving_queue_depth\{[^}]*model="shapes-diffusion"[^}]*\} 0\n/);
  });

  it('the same seed gives a byte-identical PNG over gRPC', async () => {
    const pngOf = async () => {
      const events = await generate({ prompt: 'a yellow circle at the top', steps: 5, seed: 7 });
      const image = events.find((e) => e.event?.$case === 'image')!.event;
      return image?.$case === 'image' ? image.image.png : Buffer.alloc(0);
    };
    const [a, b] = [await pngOf(), await pngOf()];
    expect(a.length).toBeGreaterThan(0);
    expect(a.equals(b)).toBe(true);
  });

  it.each([
    [{ width: 36 }, /width must be a multiple of 8 between 32 and 64 for this model \(got 36\)/],
    [{ height: 128 }, /height must be a multiple of 8 between 32 and 64/],
    [{ steps: 1000 }, /steps must be between 1 and 100 \(got 1000\)/],
    [{ guidanceScale: 50 }, /guidance_scale must be between 0 and 20 \(got 50\)/],
    [{ guidanceScale: -1 }, /guidance_scale must be between 0 and 20 \(got -1\)/],
    [{ n: 99 }, /n must be between 1 and 8 \(got 99\)/],
  ])('rejects %o with INVALID_ARGUMENT and a clear message', async (request, message) => {
    await expect(generate({ prompt: 'a red circle', ...request })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(message) });
  });

  it('answers NOT_FOUND for a model it does not serve', async () => {
    await expect(generate({ model: 'sdxl', prompt: 'x' })).rejects.toMatchObject({ code: status.NOT_FOUND, details: expect.stringMatching(/try shapes-diffusion/) });
  });

  it('a client that cancels stops its request; the steps done are metered', async () => {
    const metadata = new Metadata();
    metadata.set('x-request-id', 'img-cancel');
    const call = client.generateImage({ model: '', prompt: 'three red circles', negativePrompt: '', width: 0, height: 0, steps: 100, n: 1, scheduler: 0, priority: 0, preview: false, reservationId: '', seed: 3 }, metadata);
    const steps: number[] = [];
    await new Promise<void>((resolve) => {
      call.on('data', (m: GenerateImageResponse) => {
        if (m.event?.$case === 'progress') steps.push(m.event.progress.step);
        if (steps.length === 3) call.cancel();
      });
      call.on('error', (err: { code: number }) => {
        expect(err.code).toBe(status.CANCELLED);
        resolve();
      });
    });
    const consumer = await bus.js.consumers.get(STREAMS.usage.name, CONSUMERS.billingLedger.name);
    let event;
    for (let i = 0; i < 20 && !event; i++) {
      const msg = await consumer.next({ expires: 2_000 });
      if (!msg) continue;
      msg.ack();
      const e = decodeUsageEvent(msg.data);
      if (e.requestId === 'img-cancel') event = e;
    }
    expect(event?.usage).toMatchObject({ images: 0, pixels: 0 });
    expect(event!.usage!.steps).toBeGreaterThanOrEqual(3);
    expect(event!.usage!.steps).toBeLessThan(100);
  });
});
