import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DenoisingLoop, type IterationRows } from './denoising-loop.js';
import { DiffusionModel } from './diffusion-model.js';
import type { ImageJob } from './image-job.js';
import { ModelLayoutError, readModelLayout } from './model-layout.js';
import { decodePng } from './png-decoder.js';

// A random-weight export in the Stable Diffusion layout, made by tools/train-image/make_test_model.py:
// CLIP BPE tokenizer, int64 input_ids, an int64 scalar timestep, 2x decoder, no serving.json.
const TINY_SD = join(import.meta.dirname, '..', 'test', 'models', 'tiny-sd');

let model: DiffusionModel;
beforeAll(async () => {
  model = await DiffusionModel.open(TINY_SD, 'tiny-sd');
});
afterAll(async () => model?.close());

const job = (over: Partial<ImageJob>): ImageJob => ({
  prompt: 'a red circle', negativePrompt: 'blue', width: 16, height: 16, steps: 5, guidanceScale: 7.5,
  seed: 1, n: 1, scheduler: 'ddim', priority: 2, preview: false, ...over,
});

describe('a Stable-Diffusion-layout export served from config alone', () => {
  it('reads limits and latent geometry from the configs', () => {
    const layout = readModelLayout(TINY_SD);
    expect(layout).toMatchObject({ vaeScaleFactor: 2, scalingFactor: 0.18215, latentChannels: 4 });
    expect(layout.limits).toMatchObject({ defaultSize: 16, minSize: 16, maxSize: 32, sizeMultiple: 16, defaultScheduler: 'ddim' });
    expect(layout.schedule).toMatchObject({ className: 'PNDMScheduler', stepsOffset: 1, betaSchedule: 'scaled_linear' });
  });

  it('tokenizes with CLIP BPE to the encoder length', () => {
    expect(model.perRowTimestep).toBe(false);
    const ids = model.tokenizer.encode('A  red circle');
    // <|startoftext|> a</w> red</w> circle</w> <|endoftext|> then <|endoftext|> padding.
    expect(ids).toHaveLength(8);
    expect(ids[0]).toBe(0);
    expect(ids.slice(4)).toEqual([1, 1, 1, 1]);
    expect(new Set(ids.slice(1, 4)).size).toBe(3);
  });

  it('runs requests at different steps through a scalar-timestep denoiser, one call per timestep', async () => {
    const calls: IterationRows[][] = [];
    const loop = new DenoisingLoop(model, { batching: 'step', maxBatchRows: 16, maxQueue: 4, onIteration: (rows) => calls.push(rows) });
    const alone = new DenoisingLoop(model, { batching: 'request', maxBatchRows: 16, maxQueue: 4 });
    const jobs = [job({ seed: 5, steps: 6 }), job({ seed: 6, steps: 4, scheduler: 'euler', width: 32 })];
    const first = loop.generate(jobs[0]!);
    await new Promise((r) => setTimeout(r, 20));
    const results = await Promise.all([first, loop.generate(jobs[1]!)]);
    // Every call holds rows at one step of one request here: the timestep is a scalar.
    expect(calls.every((rows) => new Set(rows.map((r) => r.step)).size === 1)).toBe(true);
    for (const [i, j] of jobs.entries()) {
      const img = decodePng(results[i]!.pngs[0]!);
      expect([img.width, img.height]).toEqual([j.width, j.height]);
      const ref = decodePng((await alone.generate(j)).pngs[0]!);
      expect(img.data.reduce((m, v, k) => Math.max(m, Math.abs(v - ref.data[k]!)), 0)).toBeLessThanOrEqual(1);
    }
    await loop.drain();
  });

  it('names what is missing in a folder that is not a model', () => {
    expect(() => readModelLayout(join(TINY_SD, 'unet'))).toThrow(ModelLayoutError);
    expect(() => readModelLayout(join(TINY_SD, 'unet'))).toThrow(/model_index.json is missing/);
  });
});
