/**
 * Euler's method over the sigma parametrisation (Karras et al. 2022), as diffusers'
 * `EulerDiscreteScheduler` steps without churn: latents live at scale sigma, the denoiser sees
 * them divided by sqrt(sigma^2 + 1), sigmas are interpolated at the (possibly fractional) timesteps.
 */
import type { DenoisingScheduler, SchedulerStep } from './denoising-scheduler.js';
import { alphasCumprod, spacedTimesteps, type NoiseScheduleConfig } from './noise-schedule.js';

/** Euler discrete scheduler, deterministic (s_churn = 0). */
export class EulerScheduler implements DenoisingScheduler {
  readonly kind = 'euler' as const;
  readonly timesteps: readonly number[];
  readonly initNoiseSigma: number;
  /** Sigma at each step, plus a final 0. */
  readonly sigmas: Float64Array;

  constructor(
    private readonly config: NoiseScheduleConfig,
    steps: number,
  ) {
    const alphas = alphasCumprod(config);
    const train = alphas.map((a) => Math.sqrt((1 - a) / a));
    this.timesteps = spacedTimesteps(config, steps, false);
    this.sigmas = new Float64Array(steps + 1);
    this.timesteps.forEach((t, i) => {
      const lo = Math.floor(t);
      const hi = Math.min(lo + 1, train.length - 1);
      this.sigmas[i] = train[lo]! + (t - lo) * (train[hi]! - train[lo]!);
    });
    const max = Math.max(...this.sigmas);
    this.initNoiseSigma = config.timestepSpacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  inputScale(index: number): number {
    const s = this.sigmas[index]!;
    return 1 / Math.sqrt(s * s + 1);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep {
    const sigma = this.sigmas[index]!;
    const dt = this.sigmas[index + 1]! - sigma;
    const vPred = this.config.predictionType === 'v_prediction';
    const c = 1 / (sigma * sigma + 1);
    const prevSample = new Float32Array(sample.length);
    const predOriginal = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const out = modelOutput[i]!;
      const x0 = vPred ? out * (-sigma * Math.sqrt(c)) + x * c : x - sigma * out;
      predOriginal[i] = x0;
      prevSample[i] = x + ((x - x0) / sigma) * dt;
    }
    return { prevSample, predOriginal };
  }
}
