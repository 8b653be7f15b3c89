import { describe, expect, it } from 'vitest';
import { Priority, Scheduler, type GenerateImageRequest } from '@aigc/proto';
import { Status } from '@aigc/runtime';
import { resolveImageJob } from './image-job.js';
import type { ImageModelLimits } from './model-layout.js';

const limits: ImageModelLimits = {
  defaultSize: 32, minSize: 32, maxSize: 64, sizeMultiple: 8, defaultSteps: 25, maxSteps: 100,
  defaultGuidanceScale: 4, maxGuidanceScale: 20, maxImages: 8, defaultScheduler: 'ddim',
};
const request = (over: Partial<GenerateImageRequest> = {}): GenerateImageRequest => ({
  model: '', prompt: 'a red circle', negativePrompt: '', width: 0, height: 0, steps: 0, guidanceScale: undefined,
  seed: undefined, n: 0, scheduler: Scheduler.SCHEDULER_UNSPECIFIED, priority: Priority.PRIORITY_UNSPECIFIED, preview: false, reservationId: '', ...over,
});

describe('resolveImageJob', () => {
  it('fills the model defaults and a fresh seed', () => {
    expect(resolveImageJob(request(), limits, () => 17)).toEqual({
      prompt: 'a red circle', negativePrompt: '', width: 32, height: 32, steps: 25, guidanceScale: 4, seed: 17, n: 1,
      scheduler: 'ddim', priority: 2, preview: false,
    });
  });

  it('keeps explicit settings, including guidance 0 and seed 0', () => {
    const job = resolveImageJob(request({ width: 64, height: 40, steps: 7, guidanceScale: 0, seed: 0, n: 8, scheduler: Scheduler.SCHEDULER_EULER, priority: Priority.PRIORITY_HIGH }), limits, () => 1);
    expect(job).toMatchObject({ width: 64, height: 40, steps: 7, guidanceScale: 0, seed: 0, n: 8, scheduler: 'euler', priority: 1 });
  });

  it.each([
    [{ width: 24 }, 'width must be a multiple of 8 between 32 and 64 for this model (got 24)'],
    [{ height: 33 }, 'height must be a multiple of 8 between 32 and 64 for this model (got 33)'],
    [{ steps: 101 }, 'steps must be between 1 and 100 (got 101)'],
    [{ guidanceScale: 20.5 }, 'guidance_scale must be between 0 and 20 (got 20.5)'],
    [{ guidanceScale: Number.NaN }, 'guidance_scale must be between 0 and 20 (got NaN)'],
    [{ n: 9 }, 'n must be between 1 and 8 (got 9)'],
    [{ seed: Number.MAX_SAFE_INTEGER, n: 2 }, 'seed must be an integer between 0 and 9007199254740990'],
    [{ prompt: 'x'.repeat(2001) }, 'prompt must be at most 2000 characters (got 2001)'],
    [{ scheduler: 7 as Scheduler }, 'scheduler 7 is not supported (DDIM or EULER)'],
  ])('rejects %o with INVALID_ARGUMENT', (over, message) => {
    let caught: unknown;
    try {
      resolveImageJob(request(over), limits, () => 1);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: Status.INVALID_ARGUMENT });
    expect((caught as Error).message).toContain(message);
  });
});
