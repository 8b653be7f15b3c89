/**
 * The noise schedule of a diffusion model, from the `scheduler/scheduler_config.json` that common
 * exporters write (diffusers' field names): betas, cumulative alphas and the spacing of inference
 * timesteps. The schedulers (DDIM, Euler) are built on it.
 */

/** Spacing of inference timesteps over the training range (diffusers' `timestep_spacing`). */
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/** What the denoiser predicts (diffusers' `prediction_type`). */
export type PredictionType = 'epsilon' | 'v_prediction';

/** A validated scheduler config. */
export interface NoiseScheduleConfig {
  /** `_class_name` of the config, e.g. `DDIMScheduler`, `PNDMScheduler`. */
  className: string;
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  predictionType: PredictionType;
  setAlphaToOne: boolean;
  stepsOffset: number;
  timestepSpacing: TimestepSpacing;
  clipSample: boolean;
  clipSampleRange: number;
}

/** A scheduler config that cannot be used; the message names the field. */
export class SchedulerConfigError extends Error {
  override readonly name = 'SchedulerConfigError';
}

function pick<T>(raw: Record<string, unknown>, key: string, fallback: T, ok: (v: unknown) => boolean): T {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (!ok(v)) throw new SchedulerConfigError(`scheduler_config.json: ${key}=${JSON.stringify(v)} is not supported`);
  return v as T;
}

/** Reads a `scheduler_config.json` object; defaults are diffusers' (Stable Diffusion's values). */
export function parseSchedulerConfig(raw: unknown): NoiseScheduleConfig {
  if (typeof raw !== 'object' || raw === null) throw new SchedulerConfigError('scheduler_config.json must hold an object');
  const r = raw as Record<string, unknown>;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const cfg: NoiseScheduleConfig = {
    className: pick(r, '_class_name', 'DDIMScheduler', (v) => typeof v === 'string'),
    numTrainTimesteps: pick(r, 'num_train_timesteps', 1000, (v) => Number.isInteger(v) && (v as number) > 1),
    betaStart: pick(r, 'beta_start', 0.00085, num),
    betaEnd: pick(r, 'beta_end', 0.012, num),
    betaSchedule: pick(r, 'beta_schedule', 'scaled_linear', (v) => ['linear', 'scaled_linear', 'squaredcos_cap_v2'].includes(v as string)),
    predictionType: pick(r, 'prediction_type', 'epsilon', (v) => ['epsilon', 'v_prediction'].includes(v as string)),
    setAlphaToOne: pick(r, 'set_alpha_to_one', false, (v) => typeof v === 'boolean'),
    stepsOffset: pick(r, 'steps_offset', 0, (v) => Number.isInteger(v) && (v as number) >= 0),
    timestepSpacing: pick(r, 'timestep_spacing', 'leading', (v) => ['leading', 'trailing', 'linspace'].includes(v as string)),
    clipSample: pick(r, 'clip_sample', false, (v) => typeof v === 'boolean'),
    clipSampleRange: pick(r, 'clip_sample_range', 1, num),
  };
  if (!(cfg.betaStart > 0 && cfg.betaEnd > cfg.betaStart && cfg.betaEnd < 1)) {
    throw new SchedulerConfigError(`scheduler_config.json: need 0 < beta_start < beta_end < 1 (got ${cfg.betaStart}, ${cfg.betaEnd})`);
  }
  return cfg;
}

/** Cumulative products of (1 - beta) over the training timesteps. */
export function alphasCumprod(cfg: NoiseScheduleConfig): Float64Array {
  const n = cfg.numTrainTimesteps;
  const betas = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const f = n === 1 ? 0 : i / (n - 1);
    if (cfg.betaSchedule === 'linear') betas[i] = cfg.betaStart + f * (cfg.betaEnd - cfg.betaStart);
    else if (cfg.betaSchedule === 'scaled_linear') {
      const s = Math.sqrt(cfg.betaStart) + f * (Math.sqrt(cfg.betaEnd) - Math.sqrt(cfg.betaStart));
      betas[i] = s * s;
    } else {
      const a = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      betas[i] = Math.min(1 - a((i + 1) / n) / a(i / n), 0.999);
    }
  }
  const out = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= 1 - betas[i]!;
    out[i] = prod;
  }
  return out;
}

/**
 * Inference timesteps, highest first, as diffusers spaces them. `integer` rounds (DDIM); Euler's
 * `linspace` keeps fractional timesteps.
 */
export function spacedTimesteps(cfg: NoiseScheduleConfig, steps: number, integer: boolean): number[] {
  const T = cfg.numTrainTimesteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new RangeError(`steps must be between 1 and ${T}`);
  const out: number[] = [];
  if (cfg.timestepSpacing === 'linspace') {
    for (let i = steps - 1; i >= 0; i--) {
      const t = steps === 1 ? 0 : (i * (T - 1)) / (steps - 1);
      out.push(integer ? Math.round(t) : t);
    }
  } else if (cfg.timestepSpacing === 'leading') {
    const ratio = Math.floor(T / steps);
    for (let i = steps - 1; i >= 0; i--) out.push(i * ratio + cfg.stepsOffset);
  } else {
    const ratio = T / steps;
    for (let i = 0; i < steps; i++) out.push(Math.round(T - i * ratio) - 1);
  }
  return out;
}
