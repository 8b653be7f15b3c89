/**
 * One latent-diffusion model served from its folder: three ONNX Runtime executors in worker
 * threads (text encoder, denoiser, decoder) and typed calls over them. Input names, element types
 * and ranks are read from the sessions, so exports that differ there (int32 or int64 `input_ids`,
 * float or int64 `timestep`, per-row or scalar `timestep`) are served alike.
 */
import { createExecutor, type ExecutionProviderConfig, type Logger, type OnnxExecutor, type Tensor, type TensorInfo } from '@aigc/serving';
import { loadPromptTokenizer, type PromptTokenizer } from './prompt-tokenizer.js';
import { ModelLayoutError, readModelLayout, type ModelLayout } from './model-layout.js';

/** How to open a model's sessions. */
export interface DiffusionModelOptions {
  /** Denoiser sessions (worker threads); default 1. */
  instances?: number;
  /** ONNX Runtime intra-op threads of each session; default 1. */
  intraOpThreads?: number;
  executionProviders?: ExecutionProviderConfig[];
  logger?: Logger;
}

/** Rows for one denoiser call; every row has the same latent height and width. */
export interface DenoiserBatch {
  /** Latents already scaled for the model input, `rows x C x h x w`. */
  sample: Float32Array;
  /** Timestep per row. */
  timesteps: number[];
  /** Text states per row, `rows x L x D`. */
  context: Float32Array;
  /** L and D of the text states. */
  contextLength: number;
  contextDim: number;
  height: number;
  width: number;
}

/** The text encoder's output for some prompts. */
export interface TextStates {
  /** `prompts x L x D`. */
  data: Float32Array;
  length: number;
  dim: number;
  computeMs: number;
}

function input(infos: TensorInfo[], names: string[], part: string): TensorInfo {
  const found = infos.find((i) => names.includes(i.name)) ?? (names.length === 0 ? infos[0] : undefined);
  if (!found) throw new ModelLayoutError(`${part}/model.onnx has no input named ${names.join(' or ')} (inputs: ${infos.map((i) => i.name).join(', ')})`);
  return found;
}

function output(infos: TensorInfo[], name: string): string {
  return (infos.find((i) => i.name === name) ?? infos[0]!).name;
}

function floatInput(info: TensorInfo, part: string): void {
  if (info.type !== 'float32') throw new ModelLayoutError(`${part}/model.onnx input ${info.name} is ${info.type}; only float32 exports are served`);
}

/** A loaded latent-diffusion model. */
export class DiffusionModel {
  readonly tokenizer: PromptTokenizer;
  private readonly idsInput: TensorInfo;
  private readonly timestepInput: TensorInfo;
  private readonly sampleName: string;
  private readonly contextName: string;
  private readonly latentName: string;
  private readonly textOutput: string;
  private readonly unetOutput: string;
  private readonly decoderOutput: string;
  /** Whether each row may carry its own timestep (a `[batch]` input) or a call shares one. */
  readonly perRowTimestep: boolean;

  private constructor(
    readonly name: string,
    readonly layout: ModelLayout,
    private readonly textEncoder: OnnxExecutor,
    private readonly unet: OnnxExecutor,
    private readonly decoder: OnnxExecutor,
  ) {
    this.idsInput = input(textEncoder.inputs, ['input_ids'], 'text_encoder');
    this.textOutput = output(textEncoder.outputs, 'last_hidden_state');
    const sample = input(unet.inputs, ['sample'], 'unet');
    this.timestepInput = input(unet.inputs, ['timestep', 't'], 'unet');
    const context = input(unet.inputs, ['encoder_hidden_states'], 'unet');
    floatInput(sample, 'unet');
    floatInput(context, 'unet');
    [this.sampleName, this.contextName] = [sample.name, context.name];
    this.unetOutput = output(unet.outputs, 'out_sample');
    const latent = input(decoder.inputs, ['latent_sample'], 'vae_decoder');
    floatInput(latent, 'vae_decoder');
    this.latentName = latent.name;
    this.decoderOutput = output(decoder.outputs, 'sample');
    const dims = this.timestepInput.dims;
    this.perRowTimestep = dims.length === 1 && typeof dims[0] !== 'number';
    if (typeof sample.dims[0] === 'number' && sample.dims[0] !== -1) throw new ModelLayoutError(`unet/model.onnx has a fixed batch size ${sample.dims[0]}; export it with a dynamic batch axis`);
    const ids = this.idsInput.dims[1];
    this.tokenizer = loadPromptTokenizer(layout.tokenizerDir, typeof ids === 'number' && ids > 0 ? ids : undefined);
  }

  /** Reads the folder and opens the three sessions. */
  static async open(dir: string, name: string, options: DiffusionModelOptions = {}): Promise<DiffusionModel> {
    const layout = readModelLayout(dir);
    const common = { intraOpThreads: options.intraOpThreads ?? 1, executionProviders: options.executionProviders, logger: options.logger };
    const opened = await Promise.allSettled([
      createExecutor({ ...common, modelPath: layout.textEncoderPath, name: `${name}/text_encoder` }),
      createExecutor({ ...common, modelPath: layout.unetPath, name: `${name}/unet`, instances: options.instances ?? 1 }),
      createExecutor({ ...common, modelPath: layout.vaeDecoderPath, name: `${name}/vae_decoder` }),
    ]);
    const executors = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    try {
      if (failed) throw failed.reason;
      return new DiffusionModel(name, layout, executors[0]!, executors[1]!, executors[2]!);
    } catch (err) {
      await Promise.all(executors.map((e) => e.close()));
      throw err;
    }
  }

  /** Encodes prompts (one row each) into text states. */
  async encodeText(prompts: string[], signal?: AbortSignal): Promise<TextStates> {
    const length = this.tokenizer.maxLength;
    const ids = prompts.flatMap((p) => this.tokenizer.encode(p));
    const data = this.idsInput.type === 'int64' ? BigInt64Array.from(ids, BigInt) : Int32Array.from(ids);
    const feed: Tensor = { type: this.idsInput.type === 'int64' ? 'int64' : 'int32', dims: [prompts.length, length], data };
    const { outputs, computeMs } = await this.textEncoder.run({ [this.idsInput.name]: feed }, { signal, outputs: [this.textOutput], transfer: true });
    const out = outputs[this.textOutput]!;
    return { data: out.data as Float32Array, length: out.dims[1]!, dim: out.dims[2]!, computeMs };
  }

  /** Runs the denoiser over a batch of rows; returns its output per row, in order. */
  async denoise(batch: DenoiserBatch, signal?: AbortSignal): Promise<{ output: Float32Array; computeMs: number }> {
    const rows = batch.timesteps.length;
    if (this.perRowTimestep || batch.timesteps.every((t) => t === batch.timesteps[0])) return this.denoiseRows(batch, rows, signal);
    // A scalar-timestep export: one call per distinct timestep, results put back in row order.
    const output = new Float32Array(batch.sample.length);
    let computeMs = 0;
    const rowSize = batch.sample.length / rows;
    const ctxSize = batch.context.length / rows;
    for (const t of new Set(batch.timesteps)) {
      const idx = batch.timesteps.flatMap((v, i) => (v === t ? [i] : []));
      const sub: DenoiserBatch = {
        ...batch,
        timesteps: idx.map(() => t),
        sample: concatRows(batch.sample, idx, rowSize),
        context: concatRows(batch.context, idx, ctxSize),
      };
      const r = await this.denoiseRows(sub, idx.length, signal);
      idx.forEach((row, k) => output.set(r.output.subarray(k * rowSize, (k + 1) * rowSize), row * rowSize));
      computeMs += r.computeMs;
    }
    return { output, computeMs };
  }

  private async denoiseRows(batch: DenoiserBatch, rows: number, signal?: AbortSignal): Promise<{ output: Float32Array; computeMs: number }> {
    const c = this.layout.latentChannels;
    const ts = this.perRowTimestep ? batch.timesteps : [batch.timesteps[0]!];
    const tsDims = this.perRowTimestep ? [rows] : this.timestepInput.dims.length === 0 ? [] : [1];
    const timestep: Tensor =
      this.timestepInput.type === 'int64'
        ? { type: 'int64', dims: tsDims, data: BigInt64Array.from(ts, (t) => BigInt(Math.round(t))) }
        : { type: 'float32', dims: tsDims, data: Float32Array.from(ts) };
    const feeds = {
      [this.sampleName]: { type: 'float32', dims: [rows, c, batch.height, batch.width], data: batch.sample } satisfies Tensor,
      [this.timestepInput.name]: timestep,
      [this.contextName]: { type: 'float32', dims: [rows, batch.contextLength, batch.contextDim], data: batch.context } satisfies Tensor,
    };
    const { outputs, computeMs } = await this.unet.run(feeds, { signal, outputs: [this.unetOutput] });
    return { output: outputs[this.unetOutput]!.data as Float32Array, computeMs };
  }

  /** Decodes latents (`n x C x h x w`, unscaled) into RGB in [-1, 1], `n x 3 x H x W`. */
  async decode(latents: Float32Array, n: number, height: number, width: number, signal?: AbortSignal): Promise<{ pixels: Tensor; computeMs: number }> {
    const scaled = new Float32Array(latents.length);
    const inv = 1 / this.layout.scalingFactor;
    for (let i = 0; i < latents.length; i++) scaled[i] = latents[i]! * inv;
    const feed: Tensor = { type: 'float32', dims: [n, this.layout.latentChannels, height, width], data: scaled };
    const { outputs, computeMs } = await this.decoder.run({ [this.latentName]: feed }, { signal, outputs: [this.decoderOutput], transfer: true });
    return { pixels: outputs[this.decoderOutput]!, computeMs };
  }

  /** Denoiser sessions and their cumulative busy time (utilization metrics). */
  get denoiserLoad(): { instances: number; busyTimeMs: number } {
    return { instances: this.unet.instanceCount, busyTimeMs: this.unet.busyTimeMs() };
  }

  /** The three ONNX parts under the names the Open Inference Protocol serves them by (`<model>.unet`, ...). */
  parts(): Array<{ name: string; executor: OnnxExecutor }> {
    return [
      { name: `${this.name}.text_encoder`, executor: this.textEncoder },
      { name: `${this.name}.unet`, executor: this.unet },
      { name: `${this.name}.vae_decoder`, executor: this.decoder },
    ];
  }

  /** Closes the three executors (in-flight runs finish first). */
  async close(): Promise<void> {
    await Promise.all([this.textEncoder.close(), this.unet.close(), this.decoder.close()]);
  }
}

function concatRows(data: Float32Array, rows: number[], size: number): Float32Array {
  const out = new Float32Array(rows.length * size);
  rows.forEach((r, k) => out.set(data.subarray(r * size, (r + 1) * size), k * size));
  return out;
}
