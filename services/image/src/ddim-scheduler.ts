/**
 * DDIM (Song et al. 2020) with eta = 0, as diffusers' `DDIMScheduler` steps: deterministic, the
 * previous timestep is `t - T / steps`, the last step lands on `alphas_cumprod[0]` (or 1 with
 * `set_alpha_to_one`). Epsilon and v-prediction models.
 */
import type { DenoisingScheduler, SchedulerStep } from './denoising-scheduler.js';
import { alphasCumprod, spacedTimesteps, type NoiseScheduleConfig } from './noise-schedule.js';

/** DDIM with eta = 0. */
export class DdimScheduler implements DenoisingScheduler {
  readonly kind = 'ddim' as const;
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly alphas: Float64Array;
  private readonly ratio: number;
  private readonly finalAlpha: number;

  constructor(
    private readonly config: NoiseScheduleConfig,
    steps: number,
  ) {
    this.alphas = alphasCumprod(config);
    this.timesteps = spacedTimesteps(config, steps, true);
    this.ratio = Math.floor(config.numTrainTimesteps / steps);
    this.finalAlpha = config.setAlphaToOne ? 1 : this.alphas[0]!;
  }

  inputScale(): number {
    return 1;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep {
    const t = this.timesteps[index]!;
    const prev = t - this.ratio;
    const a = this.alphas[Math.min(t, this.alphas.length - 1)]!;
    const aPrev = prev >= 0 ? this.alphas[prev]! : this.finalAlpha;
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    const saPrev = Math.sqrt(aPrev);
    const sbPrev = Math.sqrt(1 - aPrev);
    const clip = this.config.clipSample ? this.config.clipSampleRange : Infinity;
    const vPred = this.config.predictionType === 'v_prediction';
    const prevSample = new Float32Array(sample.length);
    const predOriginal = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const out = modelOutput[i]!;
      let x0 = vPred ? sa * x - sb * out : (x - sb * out) / sa;
      if (x0 > clip) x0 = clip;
      else if (x0 < -clip) x0 = -clip;
      // With clipping, epsilon is re-derived from the clipped x0 (as diffusers does).
      const eps = vPred ? sa * out + sb * x : clip === Infinity ? out : (x - sa * x0) / sb;
      predOriginal[i] = x0;
      prevSample[i] = saPrev * x0 + sbPrev * eps;
    }
    return { prevSample, predOriginal };
  }
}
