/**
 * One Piper-format voice: a VITS-style ONNX file and its `.onnx.json`, run by ONNX Runtime in
 * worker threads. Inputs `input` int64 [B, T], `input_lengths` int64 [B], `scales` float32 [3]
 * (noise_scale, length_scale, noise_w), optional `sid` int64 [B]; output `output` float32 [B, 1, S].
 */
import { basename } from 'node:path';
import { existsSync } from 'node:fs';
import { createExecutor, type OnnxExecutor, type TensorMap, type Logger } from '@aigc/serving';
import { readVoiceConfig, VoiceConfigError, type VoiceConfig } from './voice-config.js';

/** The `scales` input: how noisy, how slow and how varied in rhythm the speech is. */
export interface SynthesisScales {
  noiseScale: number;
  /** Duration multiplier: 1 / speed. */
  lengthScale: number;
  noiseW: number;
}

/** One sentence to synthesize. */
export interface SynthesisRow {
  ids: readonly number[];
  speaker: number;
}

/** How a voice's sessions are opened. */
export interface PiperVoiceOptions {
  instances?: number;
  intraOpThreads?: number;
  logger?: Logger;
}

/**
 * A loaded voice. Voices whose config names an `output_lengths` output that the model has (the
 * platform's own voices) run padded batches; Piper's own exports run one sentence per call.
 */
export class PiperVoice {
  /** True when rows may share one session call (padded along T, cut back by `output_lengths`). */
  readonly batchable: boolean;
  private readonly hasSpeakerInput: boolean;

  private constructor(
    readonly name: string,
    readonly config: VoiceConfig,
    /** The voice's sessions (also served over the Open Inference Protocol). */
    readonly executor: OnnxExecutor,
  ) {
    const outputs = new Set(executor.outputs.map((o) => o.name));
    const inputs = new Set(executor.inputs.map((i) => i.name));
    for (const required of ['input', 'input_lengths', 'scales']) {
      if (!inputs.has(required)) throw new VoiceConfigError(`voice ${name}: model has no "${required}" input (not a Piper voice)`);
    }
    if (!outputs.has('output')) throw new VoiceConfigError(`voice ${name}: model has no "output" output (not a Piper voice)`);
    this.batchable = config.outputLengths !== undefined && outputs.has(config.outputLengths);
    this.hasSpeakerInput = inputs.has('sid');
  }

  /** Opens `<path>` (an `.onnx` file) with its config `<path>.json`. */
  static async open(modelPath: string, options: PiperVoiceOptions = {}): Promise<PiperVoice> {
    const configPath = `${modelPath}.json`;
    if (!existsSync(configPath)) throw new VoiceConfigError(`${modelPath}: no voice config beside it (${basename(configPath)})`);
    const config = readVoiceConfig(configPath);
    const name = basename(modelPath).replace(/\.onnx$/u, '');
    const executor = await createExecutor({
      modelPath,
      name,
      instances: options.instances ?? 1,
      intraOpThreads: options.intraOpThreads ?? 1,
      logger: options.logger,
    });
    try {
      return new PiperVoice(name, config, executor);
    } catch (err) {
      await executor.close();
      throw err;
    }
  }

  /** Sessions (worker threads) of this voice: batches that can run at once. */
  get instances(): number {
    return this.executor.instanceCount;
  }

  /**
   * Synthesizes rows in one session call, padding ids to `padTo` (>= the longest row). Returns each
   * row's samples and the time the worker spent in `session.run`.
   */
  async run(rows: readonly SynthesisRow[], scales: SynthesisScales, padTo: number, signal?: AbortSignal): Promise<{ audio: Float32Array[]; computeMs: number }> {
    if (rows.length > 1 && !this.batchable) throw new RangeError(`voice ${this.name} runs one sentence per call`);
    const width = Math.max(padTo, ...rows.map((r) => r.ids.length));
    const ids = new BigInt64Array(rows.length * width);
    rows.forEach((row, b) => row.ids.forEach((id, t) => (ids[b * width + t] = BigInt(id))));
    const feeds: TensorMap = {
      input: { type: 'int64', dims: [rows.length, width], data: ids },
      input_lengths: { type: 'int64', dims: [rows.length], data: BigInt64Array.from(rows.map((r) => BigInt(r.ids.length))) },
      scales: { type: 'float32', dims: [3], data: Float32Array.from([scales.noiseScale, scales.lengthScale, scales.noiseW]) },
    };
    if (this.hasSpeakerInput) feeds.sid = { type: 'int64', dims: [rows.length], data: BigInt64Array.from(rows.map((r) => BigInt(r.speaker))) };
    const outputs = this.batchable ? ['output', this.config.outputLengths!] : ['output'];
    const { outputs: out, computeMs } = await this.executor.run(feeds, { signal, outputs, transfer: true });
    const wave = out.output!;
    const samples = wave.dims[wave.dims.length - 1]!;
    const data = wave.data as Float32Array;
    const lengths = this.batchable ? Array.from(out[this.config.outputLengths!]!.data as BigInt64Array, Number) : [samples];
    const audio = rows.map((_, b) => data.slice(b * samples, b * samples + Math.min(samples, lengths[b]!)));
    return { audio, computeMs };
  }

  /** Milliseconds all sessions have spent busy (utilization metric). */
  busyTimeMs(): number {
    return this.executor.busyTimeMs();
  }

  /** Lets running calls finish, then ends the worker threads. */
  close(): Promise<void> {
    return this.executor.close();
  }
}
