/**
 * Length-bucketed batching of sentences onto a voice: sentences whose phoneme-id counts fall in the
 * same bucket (and that share `scales`) run as one padded batch; the voice masks the padding by
 * `input_lengths` and cuts each row's audio back by `output_lengths`.
 */
import { DynamicBatcher, type BatcherObserver, type Logger } from '@aigc/serving';
import type { PiperVoice, SynthesisRow, SynthesisScales } from './piper-voice.js';

/** How sentences are grouped into session calls. */
export type BatchingMode = 'bucketed' | 'none';

/** Options of a {@link SynthesisBatcher}. */
export interface SynthesisBatcherOptions {
  /** `none`: one sentence per call, unpadded. Voices that cannot batch always behave so. */
  mode: BatchingMode;
  /** Most sentences per call. */
  maxBatchSize: number;
  /** Phoneme-id lengths rows are padded to; longer rows pad to a multiple of the largest. */
  buckets: readonly number[];
  /** Longest the oldest sentence waits for its batch to fill. */
  maxQueueDelayMs: number;
  /** Sentences each priority level may hold before new ones are refused (RESOURCE_EXHAUSTED). */
  maxQueueSize: number;
  observer?: BatcherObserver;
  logger?: Logger;
}

/** A sentence's audio and its share of the batch's measured compute time. */
export interface SentenceAudio {
  samples: Float32Array;
  computeMs: number;
}

/** Per-sentence submit options. */
export interface SentenceSubmitOptions {
  signal?: AbortSignal;
  /** 1 (high) .. 3 (low); 0: normal. */
  priority?: number;
  /** Epoch ms after which the sentence must not run. */
  deadline?: number;
  /** Called when the batch carrying this sentence starts. */
  onStart?: () => void;
}

interface Job {
  row: SynthesisRow;
  scales: SynthesisScales;
  padTo: number;
  onStart?: () => void;
}

/** Priority levels, as in `aigc.v1.Priority`: 1 high, 2 normal, 3 low. */
const LEVELS = 3;

/** Queues sentences for one voice and runs them in length-bucketed batches. */
export class SynthesisBatcher {
  private readonly batcher: DynamicBatcher<Job, SentenceAudio>;
  private readonly batched: boolean;
  private readonly buckets: number[];

  constructor(
    private readonly voice: PiperVoice,
    options: SynthesisBatcherOptions,
  ) {
    this.batched = options.mode === 'bucketed' && voice.batchable && options.maxBatchSize > 1;
    this.buckets = [...options.buckets].sort((a, b) => a - b);
    if (this.buckets.length === 0 || this.buckets.some((b) => !Number.isInteger(b) || b < 1)) throw new RangeError('buckets must be positive integers');
    this.batcher = new DynamicBatcher<Job, SentenceAudio>({
      name: voice.name,
      runBatch: (jobs) => this.runBatch(jobs),
      maxBatchSize: this.batched ? options.maxBatchSize : 1,
      maxQueueDelayMs: this.batched ? options.maxQueueDelayMs : 0,
      maxConcurrentBatches: voice.instances,
      priorityLevels: LEVELS,
      defaultPriority: 2,
      queuePolicy: { maxQueueSize: options.maxQueueSize },
      observer: options.observer,
      logger: options.logger,
    });
  }

  /** The id length a row of `length` is padded to (its bucket). */
  bucketOf(length: number): number {
    const fit = this.buckets.find((b) => b >= length);
    if (fit !== undefined) return fit;
    const top = this.buckets[this.buckets.length - 1]!;
    return Math.ceil(length / top) * top;
  }

  /** Queues one sentence; resolves with its audio when its batch has run. */
  synthesize(row: SynthesisRow, scales: SynthesisScales, options: SentenceSubmitOptions = {}): Promise<SentenceAudio> {
    const padTo = this.batched ? this.bucketOf(row.ids.length) : row.ids.length;
    // Rows share a call only when they share the bucket and the scales input (one per call).
    const key = this.batched ? `${padTo}|${scales.noiseScale}|${scales.lengthScale}|${scales.noiseW}` : '';
    return this.batcher.submit(
      { row, scales, padTo, onStart: options.onStart },
      { signal: options.signal, priority: options.priority, deadline: options.deadline, key, cost: padTo },
    );
  }

  /** Sentences waiting in the queues. */
  get queueDepth(): number {
    return this.batcher.queueDepth;
  }

  /** Sentences inside running batches. */
  get inFlight(): number {
    return this.batcher.inFlight;
  }

  /** True while the queues stay saturated (readiness hint). */
  get overloaded(): boolean {
    return this.batcher.overloaded;
  }

  /** Stops taking sentences and runs what is queued. */
  drain(): Promise<void> {
    return this.batcher.drain();
  }

  private async runBatch(jobs: Job[]): Promise<SentenceAudio[]> {
    for (const job of jobs) job.onStart?.();
    const padTo = Math.max(...jobs.map((j) => j.padTo));
    const { audio, computeMs } = await this.voice.run(
      jobs.map((j) => j.row),
      jobs[0]!.scales,
      padTo,
    );
    // Each sentence is charged the batch's compute time in proportion to its phoneme ids.
    const total = jobs.reduce((sum, j) => sum + j.row.ids.length, 0);
    return audio.map((samples, i) => ({ samples, computeMs: (computeMs * jobs[i]!.row.ids.length) / total }));
  }
}
