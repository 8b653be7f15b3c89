/**
 * The step rule of the denoising loop. A scheduler is made per request (it holds that request's
 * timesteps) and is pure: `step` reads the model output and the current latents and returns the
 * next latents, so requests at different steps can share one denoiser batch.
 */
import type { NoiseScheduleConfig } from './noise-schedule.js';
import { DdimScheduler } from './ddim-scheduler.js';
import { EulerScheduler } from './euler-scheduler.js';

/** Names of the schedulers this service implements. */
export type SchedulerKind = 'ddim' | 'euler';

/** The outcome of one step. */
export interface SchedulerStep {
  /** Latents for the next step (the final latents after the last step). */
  prevSample: Float32Array;
  /** The model's current estimate of the clean latents (used for previews). */
  predOriginal: Float32Array;
}

/** One request's noise scheduler. */
export interface DenoisingScheduler {
  readonly kind: SchedulerKind;
  /** Timesteps fed to the denoiser, one per step, highest first. */
  readonly timesteps: readonly number[];
  /** Standard deviation of the initial noise. */
  readonly initNoiseSigma: number;
  /** Factor applied to the latents before the denoiser at step `index`. */
  inputScale(index: number): number;
  /** Applies step `index` given the (guided) model output. */
  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep;
}

/** Makes the scheduler of one request. */
export function createScheduler(kind: SchedulerKind, config: NoiseScheduleConfig, steps: number): DenoisingScheduler {
  return kind === 'euler' ? new EulerScheduler(config, steps) : new DdimScheduler(config, steps);
}
