/**
 * Reads the files of a latent-diffusion ONNX export (`model_index.json`, `scheduler/`,
 * `tokenizer/`, `text_encoder/`, `unet/`, `vae_decoder/` and their `config.json`) plus this
 * platform's optional `serving.json` (size, step and guidance limits and defaults).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSchedulerConfig, type NoiseScheduleConfig } from './noise-schedule.js';
import type { SchedulerKind } from './denoising-scheduler.js';

/** What a request may ask of a model, and what it gets when it asks for nothing. */
export interface ImageModelLimits {
  defaultSize: number;
  minSize: number;
  maxSize: number;
  /** Width and height must be multiples of this. */
  sizeMultiple: number;
  defaultSteps: number;
  maxSteps: number;
  defaultGuidanceScale: number;
  maxGuidanceScale: number;
  /** Most images per request. */
  maxImages: number;
  defaultScheduler: SchedulerKind;
}

/** The parsed, validated layout of one model folder. */
export interface ModelLayout {
  dir: string;
  textEncoderPath: string;
  unetPath: string;
  vaeDecoderPath: string;
  tokenizerDir: string;
  schedule: NoiseScheduleConfig;
  limits: ImageModelLimits;
  /** Latents are divided by this before the decoder (SD: 0.18215). */
  scalingFactor: number;
  /** Pixels per latent cell along each axis (SD: 8). */
  vaeScaleFactor: number;
  /** Channels of the latents (SD: 4). */
  latentChannels: number;
}

/** A model folder that cannot be served; the message names the file and field. */
export class ModelLayoutError extends Error {
  override readonly name = 'ModelLayoutError';
}

function readJson(path: string, required: boolean): Record<string, unknown> {
  if (!existsSync(path)) {
    if (required) throw new ModelLayoutError(`${path} is missing`);
    return {};
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelLayoutError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function positiveInt(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < 1) throw new ModelLayoutError(`${what} must be a positive integer (got ${JSON.stringify(v)})`);
  return v as number;
}

function positive(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v > 0)) throw new ModelLayoutError(`${what} must be a positive number (got ${JSON.stringify(v)})`);
  return v;
}

/** Reads and checks a model folder; nothing is opened yet. */
export function readModelLayout(dir: string): ModelLayout {
  readJson(join(dir, 'model_index.json'), true);
  const part = (name: string) => {
    const path = join(dir, name, 'model.onnx');
    if (!existsSync(path)) throw new ModelLayoutError(`${path} is missing`);
    return path;
  };
  const schedulerPath = join(dir, 'scheduler', 'scheduler_config.json');
  let schedule: NoiseScheduleConfig;
  try {
    schedule = parseSchedulerConfig(readJson(schedulerPath, true));
  } catch (err) {
    throw err instanceof ModelLayoutError ? err : new ModelLayoutError(`${schedulerPath}: ${(err as Error).message}`);
  }
  const unet = readJson(join(dir, 'unet', 'config.json'), false);
  const vae = readJson(join(dir, 'vae_decoder', 'config.json'), false);
  const serving = readJson(join(dir, 'serving.json'), false);
  const blocks = vae.block_out_channels;
  const vaeScaleFactor = Array.isArray(blocks) && blocks.length > 0 ? 2 ** (blocks.length - 1) : 8;
  const sampleSize = positiveInt(unet.sample_size, 'unet/config.json sample_size', 64);
  const defaultSize = positiveInt(serving.defaultSize, 'serving.json defaultSize', sampleSize * vaeScaleFactor);
  const limits: ImageModelLimits = {
    defaultSize,
    minSize: positiveInt(serving.minSize, 'serving.json minSize', Math.max(vaeScaleFactor * 8, defaultSize / 2)),
    maxSize: positiveInt(serving.maxSize, 'serving.json maxSize', defaultSize * 2),
    sizeMultiple: positiveInt(serving.sizeMultiple, 'serving.json sizeMultiple', vaeScaleFactor * 8),
    defaultSteps: positiveInt(serving.defaultSteps, 'serving.json defaultSteps', 30),
    maxSteps: positiveInt(serving.maxSteps, 'serving.json maxSteps', 150),
    defaultGuidanceScale: positive(serving.defaultGuidanceScale, 'serving.json defaultGuidanceScale', 7.5),
    maxGuidanceScale: positive(serving.maxGuidanceScale, 'serving.json maxGuidanceScale', 30),
    maxImages: positiveInt(serving.maxImages, 'serving.json maxImages', 4),
    defaultScheduler: serving.defaultScheduler === 'euler' ? 'euler' : schedule.className.startsWith('Euler') ? 'euler' : 'ddim',
  };
  if (limits.minSize > limits.defaultSize || limits.defaultSize > limits.maxSize) {
    throw new ModelLayoutError(`serving.json: need minSize <= defaultSize <= maxSize (got ${limits.minSize}, ${limits.defaultSize}, ${limits.maxSize})`);
  }
  if (limits.sizeMultiple % vaeScaleFactor !== 0) throw new ModelLayoutError(`serving.json: sizeMultiple ${limits.sizeMultiple} must be a multiple of the VAE scale factor ${vaeScaleFactor}`);
  if (limits.maxSteps > schedule.numTrainTimesteps) limits.maxSteps = schedule.numTrainTimesteps;
  return {
    dir,
    textEncoderPath: part('text_encoder'),
    unetPath: part('unet'),
    vaeDecoderPath: part('vae_decoder'),
    tokenizerDir: join(dir, 'tokenizer'),
    schedule,
    limits,
    scalingFactor: positive(vae.scaling_factor, 'vae_decoder/config.json scaling_factor', 0.18215),
    vaeScaleFactor,
    latentChannels: positiveInt(unet.in_channels ?? vae.latent_channels, 'unet/config.json in_channels', 4),
  };
}
