import { describe, expect, it } from 'vitest';
import { createScheduler } from './denoising-scheduler.js';
import { EulerScheduler } from './euler-scheduler.js';
import { GaussianNoise } from './gaussian-noise.js';
import { alphasCumprod, parseSchedulerConfig, spacedTimesteps, SchedulerConfigError } from './noise-schedule.js';

// Stable Diffusion 1.x's scheduler config, as its exports ship it.
const SD = parseSchedulerConfig({
  _class_name: 'PNDMScheduler', beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000, set_alpha_to_one: false, steps_offset: 1, skip_prk_steps: true,
});

describe('noise schedule', () => {
  it('reproduces Stable Diffusion alphas and sigmas', () => {
    const ac = alphasCumprod(SD);
    expect(ac[0]).toBeCloseTo(0.99915, 6);
    expect(ac[999]).toBeCloseTo(0.00466, 5);
    expect(Math.sqrt((1 - ac[999]!) / ac[999]!)).toBeCloseTo(14.6146, 3);
  });

  it('spaces timesteps as diffusers does (leading, trailing, linspace)', () => {
    const leading = spacedTimesteps(SD, 50, true);
    expect(leading.slice(0, 3)).toEqual([981, 961, 941]);
    expect(leading.at(-1)).toBe(1);
    expect(spacedTimesteps({ ...SD, timestepSpacing: 'trailing' }, 10, true)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(spacedTimesteps({ ...SD, timestepSpacing: 'linspace' }, 10, true)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect(spacedTimesteps({ ...SD, timestepSpacing: 'linspace' }, 4, false)).toEqual([999, 666, 333, 0]);
  });

  it('names the field of a config it cannot use', () => {
    expect(() => parseSchedulerConfig({ beta_schedule: 'sigmoid' })).toThrow(/beta_schedule="sigmoid"/);
    expect(() => parseSchedulerConfig({ prediction_type: 'sample' })).toThrow(SchedulerConfigError);
    expect(() => parseSchedulerConfig({ beta_start: 0.5, beta_end: 0.1 })).toThrow(/beta_start < beta_end/);
  });
});

/** Runs a scheduler with a perfect denoiser that knows the clean latents x0. */
function denoiseWithOracle(kind: 'ddim' | 'euler', config = SD, steps = 20): { x0: Float32Array; out: Float32Array } {
  const x0 = new GaussianNoise(1).fill(64, 0.8);
  const eps = new GaussianNoise(2).fill(64);
  const s = createScheduler(kind, config, steps);
  const ac = alphasCumprod(config);
  let x: Float32Array = new Float32Array(64);
  if (kind === 'euler') {
    const sigma = (s as EulerScheduler).sigmas[0]!;
    x = x.map((_, i) => x0[i]! + sigma * eps[i]!);
  } else {
    const a = ac[s.timesteps[0]!]!;
    x = x.map((_, i) => Math.sqrt(a) * x0[i]! + Math.sqrt(1 - a) * eps[i]!);
  }
  for (let i = 0; i < s.timesteps.length; i++) {
    let output: Float32Array;
    if (config.predictionType === 'v_prediction') {
      const a = ac[s.timesteps[i]!]!;
      const scaled = x.map((v) => v * s.inputScale(i));
      // v = sqrt(a) * eps - sqrt(1 - a) * x0, with eps recovered from the (scaled) sample.
      output = scaled.map((v, k) => {
        const e = (v - Math.sqrt(a) * x0[k]!) / Math.sqrt(1 - a);
        return Math.sqrt(a) * e - Math.sqrt(1 - a) * x0[k]!;
      });
    } else if (kind === 'euler') {
      const sigma = (s as EulerScheduler).sigmas[i]!;
      output = x.map((v, k) => (v - x0[k]!) / sigma);
    } else {
      const a = ac[s.timesteps[i]!]!;
      output = x.map((v, k) => (v - Math.sqrt(a) * x0[k]!) / Math.sqrt(1 - a));
    }
    x = s.step(output, i, x).prevSample;
  }
  return { x0, out: x };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('DdimScheduler', () => {
  it('lands on the clean latents when the denoiser is perfect', () => {
    const exact = denoiseWithOracle('ddim', { ...SD, setAlphaToOne: true });
    expect(maxDiff(exact.x0, exact.out)).toBeLessThan(1e-4);
    // Without set_alpha_to_one the last step keeps sqrt(1 - alphas_cumprod[0]) ~ 0.03 of the noise.
    const sd = denoiseWithOracle('ddim');
    expect(maxDiff(sd.x0, sd.out)).toBeLessThan(0.15);
    expect(maxDiff(sd.x0, sd.out)).toBeGreaterThan(1e-4);
  });

  it('handles v-prediction models', () => {
    const r = denoiseWithOracle('ddim', { ...SD, setAlphaToOne: true, predictionType: 'v_prediction' });
    expect(maxDiff(r.x0, r.out)).toBeLessThan(1e-3);
  });

  it('is pure: the same inputs give the same outputs, in place of nothing', () => {
    const s = createScheduler('ddim', SD, 10);
    const x = new GaussianNoise(3).fill(16);
    const e = new GaussianNoise(4).fill(16);
    const copy = x.slice();
    const a = s.step(e, 3, x);
    expect(Array.from(x)).toEqual(Array.from(copy));
    expect(Array.from(s.step(e, 3, x).prevSample)).toEqual(Array.from(a.prevSample));
  });
});

describe('EulerScheduler', () => {
  it('starts at the largest sigma and reaches the clean latents with a perfect denoiser', () => {
    const s = new EulerScheduler(SD, 30);
    expect(s.sigmas.at(-1)).toBe(0);
    expect(s.initNoiseSigma).toBeCloseTo(Math.sqrt(s.sigmas[0]! ** 2 + 1), 6);
    expect(s.inputScale(0)).toBeCloseTo(1 / Math.sqrt(s.sigmas[0]! ** 2 + 1), 9);
    const r = denoiseWithOracle('euler');
    expect(maxDiff(r.x0, r.out)).toBeLessThan(1e-4);
  });

  it('interpolates sigmas at fractional linspace timesteps', () => {
    const s = new EulerScheduler({ ...SD, timestepSpacing: 'linspace' }, 7);
    const ac = alphasCumprod(SD);
    const sig = (t: number) => Math.sqrt((1 - ac[t]!) / ac[t]!);
    const t = s.timesteps[1]!;
    expect(Number.isInteger(t)).toBe(false);
    const lo = Math.floor(t);
    expect(s.sigmas[1]).toBeCloseTo(sig(lo) + (t - lo) * (sig(lo + 1) - sig(lo)), 9);
    expect(s.initNoiseSigma).toBeCloseTo(s.sigmas[0]!, 9);
  });
});
