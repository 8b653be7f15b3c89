/**
 * Turns a GenerateImageRequest into a validated {@link ImageJob} against the model's limits.
 * Every rejection is INVALID_ARGUMENT with a message naming the field, the value and the range.
 */
import { invalidArgument } from '@aigc/runtime';
import { Priority, Scheduler, type GenerateImageRequest } from '@aigc/proto';
import { MAX_SEED } from './gaussian-noise.js';
import type { SchedulerKind } from './denoising-scheduler.js';
import type { ImageModelLimits } from './model-layout.js';

/** Longest prompt or negative prompt accepted, in characters. */
export const MAX_PROMPT_CHARS = 2000;

/** One request's generation settings, all resolved. */
export interface ImageJob {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  /** Seed of image 0; image i uses seed + i. */
  seed: number;
  n: number;
  scheduler: SchedulerKind;
  /** 1 (high) to 3 (low). */
  priority: number;
  preview: boolean;
}

/** Resolves defaults and checks a request; `randomSeed` supplies the seed when none is given. */
export function resolveImageJob(request: GenerateImageRequest, limits: ImageModelLimits, randomSeed: () => number): ImageJob {
  if (request.prompt.length > MAX_PROMPT_CHARS) throw invalidArgument(`prompt must be at most ${MAX_PROMPT_CHARS} characters (got ${request.prompt.length})`);
  if (request.negativePrompt.length > MAX_PROMPT_CHARS) throw invalidArgument(`negative_prompt must be at most ${MAX_PROMPT_CHARS} characters (got ${request.negativePrompt.length})`);
  const size = (value: number, field: string) => {
    const v = value || limits.defaultSize;
    if (v < limits.minSize || v > limits.maxSize || v % limits.sizeMultiple !== 0) {
      throw invalidArgument(`${field} must be a multiple of ${limits.sizeMultiple} between ${limits.minSize} and ${limits.maxSize} for this model (got ${value})`);
    }
    return v;
  };
  const width = size(request.width, 'width');
  const height = size(request.height, 'height');
  const steps = request.steps || limits.defaultSteps;
  if (steps < 1 || steps > limits.maxSteps) throw invalidArgument(`steps must be between 1 and ${limits.maxSteps} (got ${request.steps})`);
  const guidanceScale = request.guidanceScale ?? limits.defaultGuidanceScale;
  if (!Number.isFinite(guidanceScale) || guidanceScale < 0 || guidanceScale > limits.maxGuidanceScale) {
    throw invalidArgument(`guidance_scale must be between 0 and ${limits.maxGuidanceScale} (got ${request.guidanceScale})`);
  }
  const n = request.n || 1;
  if (n > limits.maxImages) throw invalidArgument(`n must be between 1 and ${limits.maxImages} (got ${request.n})`);
  const seed = request.seed ?? randomSeed();
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > MAX_SEED - (n - 1)) throw invalidArgument(`seed must be an integer between 0 and ${MAX_SEED - n + 1} (got ${request.seed})`);
  let scheduler: SchedulerKind;
  if (request.scheduler === Scheduler.SCHEDULER_UNSPECIFIED) scheduler = limits.defaultScheduler;
  else if (request.scheduler === Scheduler.SCHEDULER_DDIM) scheduler = 'ddim';
  else if (request.scheduler === Scheduler.SCHEDULER_EULER) scheduler = 'euler';
  else throw invalidArgument(`scheduler ${request.scheduler} is not supported (DDIM or EULER)`);
  let priority: number;
  if (request.priority === Priority.PRIORITY_UNSPECIFIED || request.priority === Priority.PRIORITY_NORMAL) priority = 2;
  else if (request.priority === Priority.PRIORITY_HIGH) priority = 1;
  else if (request.priority === Priority.PRIORITY_LOW) priority = 3;
  else throw invalidArgument(`priority ${request.priority} is not supported`);
  return { prompt: request.prompt, negativePrompt: request.negativePrompt, width, height, steps, guidanceScale, seed, n, scheduler, priority, preview: request.preview };
}
