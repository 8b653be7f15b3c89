/**
 * The text-to-image loop: text encoder -> denoiser once per step -> decoder -> PNG, driven here in
 * TypeScript. With step-level batching every iteration runs one denoiser batch holding the rows of
 * all active requests, each at its own step; requests join and leave between steps through the
 * {@link IterationScheduler}. `request` runs each request's rows in its own calls and `none` one
 * row per call (the baselines of bench/image).
 */
import { IterationScheduler, type BatcherObserver, type IterationStep } from '@aigc/serving';
import { invalidArgument, ServiceError, Status } from '@aigc/runtime';
import { createScheduler, type DenoisingScheduler } from './denoising-scheduler.js';
import type { DiffusionModel } from './diffusion-model.js';
import { GaussianNoise } from './gaussian-noise.js';
import type { ImageJob } from './image-job.js';
import { PngEncoder, type RasterImage } from './png-encoder.js';
import { decodedToRasters, shrink } from './raster.js';

/** How denoiser calls are formed. */
export type BatchingMode = 'step' | 'request' | 'none';

/** Options of a {@link DenoisingLoop}. */
export interface DenoisingLoopOptions {
  batching: BatchingMode;
  /** Most denoiser rows per iteration (step mode); a row is one image (two with guidance), weighted by latent area. */
  maxBatchRows: number;
  /** Waiting requests per priority level before RESOURCE_EXHAUSTED (step mode). */
  maxQueue: number;
  /** Longest wait to join the running batch, ms; 0 waits for the call's deadline only. */
  queueTimeoutMs?: number;
  /** Longer side of preview PNGs. */
  previewSize?: number;
  /** Called with each denoiser call's rows (observability, tests). */
  onIteration?: (rows: IterationRows[]) => void;
  /** Metrics hooks: each denoiser call is a batch, each request completes once. */
  observer?: BatcherObserver;
}

/** One request's share of a denoiser call. */
export interface IterationRows {
  requestId: number;
  /** The step this call computes (0-based). */
  step: number;
  rows: number;
}

/** A request inside the loop. */
export interface DenoiseState {
  readonly id: number;
  readonly job: ImageJob;
  readonly scheduler: DenoisingScheduler;
  /** `n x C x h x w`. */
  latents: Float32Array;
  /** Estimate of the clean latents after the last step (previews). */
  predOriginal?: Float32Array;
  /** Text states per denoiser row: `[negative x n, prompt x n]` with guidance, else `[prompt x n]`. */
  readonly context: Float32Array;
  readonly contextLength: number;
  readonly contextDim: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  readonly guided: boolean;
  /** Steps completed. */
  step: number;
  /** Measured model compute attributed to this request, ms. */
  computeMs: number;
}

/** The outcome of one request. */
export interface GeneratedImages {
  pngs: Buffer[];
  seeds: number[];
  steps: number;
  computeMs: number;
}

/** Per-request hooks of {@link DenoisingLoop.generate}. */
export interface GenerateHooks {
  signal?: AbortSignal;
  /** After every step (the state is live: copy what you keep). */
  onStep?: (state: DenoiseState) => void;
  /** Receives the state as soon as it exists, so work done is known even when the call fails. */
  onStart?: (state: DenoiseState) => void;
}

/** Runs text-to-image requests over one model; see the module comment. */
export class DenoisingLoop {
  private readonly scheduler: IterationScheduler<DenoiseState> | undefined;
  private readonly encoder = new PngEncoder();
  private readonly baseArea: number;
  private nextId = 1;

  constructor(
    readonly model: DiffusionModel,
    private readonly options: DenoisingLoopOptions,
  ) {
    const f = model.layout.vaeScaleFactor;
    this.baseArea = (model.layout.limits.defaultSize / f) ** 2;
    if (options.batching === 'step') {
      this.scheduler = new IterationScheduler<DenoiseState>({
        name: `denoiser of ${model.name}`,
        step: (states) => this.stepAll(states, Infinity),
        maxActive: options.maxBatchRows,
        maxCost: options.maxBatchRows,
        priorityLevels: 3,
        queuePolicy: { maxQueueSize: options.maxQueue, defaultTimeoutMs: options.queueTimeoutMs || undefined },
      });
    }
  }

  /** Denoiser rows a job holds while active, weighted by its latent area (the scheduler's cost). */
  cost(job: ImageJob): number {
    const f = this.model.layout.vaeScaleFactor;
    const rows = job.n * (job.guidanceScale > 1 ? 2 : 1);
    return rows * Math.max(1, Math.ceil(((job.width / f) * (job.height / f)) / this.baseArea));
  }

  /** Generates a job's images. */
  async generate(job: ImageJob, hooks: GenerateHooks = {}): Promise<GeneratedImages> {
    try {
      const result = await this.run(job, hooks);
      this.options.observer?.completed?.();
      return result;
    } catch (err) {
      const error = ServiceError.from(err);
      const reason = error.code === Status.RESOURCE_EXHAUSTED ? 'queue_full' : error.code === Status.CANCELLED ? 'cancelled' : error.code === Status.DEADLINE_EXCEEDED ? 'expired' : undefined;
      if (reason) this.options.observer?.rejected?.(reason);
      else this.options.observer?.completed?.(error);
      throw err;
    }
  }

  private async run(job: ImageJob, hooks: GenerateHooks): Promise<GeneratedImages> {
    const { signal } = hooks;
    const cost = this.cost(job);
    if (this.scheduler && cost > this.options.maxBatchRows) {
      throw invalidArgument(`this request needs ${cost} denoiser rows but a batch holds ${this.options.maxBatchRows}; lower n or the size`);
    }
    const state = await this.start(job, signal);
    hooks.onStart?.(state);
    if (this.scheduler) {
      await this.scheduler.submit(state, { priority: job.priority, cost, signal, onStep: hooks.onStep });
    } else {
      const rowsPerCall = this.options.batching === 'none' ? 1 : Infinity;
      while (state.step < job.steps) {
        if (signal?.aborted) throw ServiceError.from(signal.reason);
        await this.stepAll([state], rowsPerCall, signal);
        hooks.onStep?.(state);
      }
    }
    const rasters = await this.decode(state, state.latents, signal);
    return {
      pngs: rasters.map((r) => this.encoder.encode(r)),
      seeds: Array.from({ length: job.n }, (_, i) => job.seed + i),
      steps: state.step,
      computeMs: state.computeMs,
    };
  }

  /** A small PNG per image of the current estimate (the decoder run on the predicted clean latents). */
  async preview(state: DenoiseState, signal?: AbortSignal): Promise<Buffer[]> {
    if (!state.predOriginal) return [];
    const rasters = await this.decode(state, state.predOriginal, signal);
    return rasters.map((r) => this.encoder.encode(shrink(r, this.options.previewSize ?? 64)));
  }

  /** Stops taking requests and waits for admitted ones (step mode). */
  async drain(): Promise<void> {
    await this.scheduler?.drain();
  }

  /** Requests in the running batch and waiting to join (step mode). */
  get load(): { active: number; waiting: number } {
    return { active: this.scheduler?.activeCount ?? 0, waiting: this.scheduler?.waitingCount ?? 0 };
  }

  private async start(job: ImageJob, signal?: AbortSignal): Promise<DenoiseState> {
    const { layout } = this.model;
    const guided = job.guidanceScale > 1;
    const text = await this.model.encodeText(guided ? [job.negativePrompt, job.prompt] : [job.prompt], signal);
    const per = text.length * text.dim;
    const context = new Float32Array((guided ? 2 : 1) * job.n * per);
    for (let i = 0; i < job.n; i++) {
      if (guided) {
        context.set(text.data.subarray(0, per), i * per);
        context.set(text.data.subarray(per, 2 * per), (job.n + i) * per);
      } else context.set(text.data.subarray(0, per), i * per);
    }
    const scheduler = createScheduler(job.scheduler, layout.schedule, job.steps);
    const h = job.height / layout.vaeScaleFactor;
    const w = job.width / layout.vaeScaleFactor;
    const size = layout.latentChannels * h * w;
    const latents = new Float32Array(job.n * size);
    for (let i = 0; i < job.n; i++) latents.set(new GaussianNoise(job.seed + i).fill(size, scheduler.initNoiseSigma), i * size);
    return {
      id: this.nextId++, job, scheduler, latents, context, contextLength: text.length, contextDim: text.dim,
      latentHeight: h, latentWidth: w, guided, step: 0, computeMs: text.computeMs,
    };
  }

  /** One step for every state: denoiser calls grouped by latent shape, at most `rowsPerCall` rows each. */
  private async stepAll(states: DenoiseState[], rowsPerCall: number, signal?: AbortSignal): Promise<IterationStep<DenoiseState>[]> {
    const groups = new Map<string, DenoiseState[]>();
    for (const s of states) {
      const key = `${s.latentHeight}x${s.latentWidth}x${s.contextLength}x${s.contextDim}`;
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    const outputs = new Map<DenoiseState, Float32Array>();
    for (const group of groups.values()) {
      const rows = group.flatMap((s) => rowsOf(s));
      for (let at = 0; at < rows.length; at += rowsPerCall) await this.runRows(rows.slice(at, at + rowsPerCall), outputs, signal);
    }
    return states.map((s) => {
      const eps = outputs.get(s)!;
      const g = s.job.guidanceScale;
      const half = s.latents.length;
      let guidedEps = eps;
      if (s.guided) {
        guidedEps = new Float32Array(half);
        for (let i = 0; i < half; i++) guidedEps[i] = eps[i]! + g * (eps[half + i]! - eps[i]!);
      }
      const { prevSample, predOriginal } = s.scheduler.step(guidedEps, s.step, s.latents);
      s.latents = prevSample;
      s.predOriginal = predOriginal;
      s.step++;
      return { state: s, done: s.step >= s.job.steps };
    });
  }

  private async runRows(rows: Row[], outputs: Map<DenoiseState, Float32Array>, signal?: AbortSignal): Promise<void> {
    const first = rows[0]!.state;
    const latentSize = first.latents.length / first.job.n;
    const ctxSize = first.contextLength * first.contextDim;
    const sample = new Float32Array(rows.length * latentSize);
    const context = new Float32Array(rows.length * ctxSize);
    const timesteps: number[] = [];
    rows.forEach((r, k) => {
      const scale = r.state.scheduler.inputScale(r.state.step);
      const src = r.state.latents.subarray(r.image * latentSize, (r.image + 1) * latentSize);
      for (let i = 0; i < latentSize; i++) sample[k * latentSize + i] = src[i]! * scale;
      context.set(r.state.context.subarray(r.row * ctxSize, (r.row + 1) * ctxSize), k * ctxSize);
      timesteps.push(r.state.scheduler.timesteps[r.state.step]!);
    });
    const summary = summarise(rows);
    this.options.onIteration?.(summary);
    this.options.observer?.batchStarted?.({ size: rows.length, requests: summary.length, cost: rows.length, queueMs: [] });
    let result: { output: Float32Array; computeMs: number };
    try {
      result = await this.model.denoise(
        { sample, timesteps, context, contextLength: first.contextLength, contextDim: first.contextDim, height: first.latentHeight, width: first.latentWidth },
        signal,
      );
    } catch (err) {
      this.options.observer?.batchFinished?.({ size: rows.length, computeMs: 0, ok: false });
      throw err;
    }
    const { output, computeMs } = result;
    this.options.observer?.batchFinished?.({ size: rows.length, computeMs, ok: true });
    rows.forEach((r, k) => {
      const s = r.state;
      let eps = outputs.get(s);
      if (!eps) outputs.set(s, (eps = new Float32Array(s.latents.length * (s.guided ? 2 : 1))));
      eps.set(output.subarray(k * latentSize, (k + 1) * latentSize), r.row * latentSize);
      s.computeMs += computeMs / rows.length;
    });
  }

  private async decode(state: DenoiseState, latents: Float32Array, signal?: AbortSignal): Promise<RasterImage[]> {
    const { pixels, computeMs } = await this.model.decode(latents, state.job.n, state.latentHeight, state.latentWidth, signal);
    state.computeMs += computeMs;
    return decodedToRasters(pixels);
  }
}

interface Row {
  state: DenoiseState;
  /** Index into the state's denoiser rows (context and output). */
  row: number;
  /** Image whose latents this row reads. */
  image: number;
}

function rowsOf(s: DenoiseState): Row[] {
  const n = s.job.n;
  return Array.from({ length: s.guided ? 2 * n : n }, (_, row) => ({ state: s, row, image: row % n }));
}

function summarise(rows: Row[]): IterationRows[] {
  const by = new Map<DenoiseState, number>();
  for (const r of rows) by.set(r.state, (by.get(r.state) ?? 0) + 1);
  return [...by].map(([s, n]) => ({ requestId: s.id, step: s.step, rows: n }));
}
