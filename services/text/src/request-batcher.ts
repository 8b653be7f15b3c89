/**
 * Request-level batching of generation, the baseline continuous batching is measured against
 * (bench/text): libs/serving's DynamicBatcher groups waiting requests, and a batch runs prefill
 * and decoding to the end of its longest member before the next batch may start. Finished rows
 * leave the decode batch, but nobody joins it. `maxBatchSize: 1` is no batching at all.
 */
import { DynamicBatcher, type BatcherObserver, type Logger, type QueuePolicy } from '@aigc/serving';
import type { DecoderModel } from './decoder-model.js';
import type { GenerationSequence } from './generation-sequence.js';
import type { RunSequenceOptions } from './continuous-batcher.js';

/** Options of a {@link RequestBatcher}. */
export interface RequestBatcherOptions {
  maxBatchSize: number;
  /** Batches running at once (the executor's instance count). */
  maxConcurrentBatches?: number;
  /** Longest the oldest request waits for a batch to fill. */
  maxQueueDelayMs: number;
  priorityLevels: number;
  queuePolicy?: QueuePolicy | QueuePolicy[];
  logger?: Logger;
  /** Serving metrics hooks of the underlying dynamic batcher. */
  observer?: BatcherObserver;
}

interface Job {
  seq: GenerationSequence;
  signal?: AbortSignal;
}

/** Runs generation sequences a whole batch at a time; see the module comment. */
export class RequestBatcher {
  private readonly batcher: DynamicBatcher<Job, GenerationSequence>;
  /** Forward passes run so far. */
  forwardPasses = 0;

  constructor(
    private readonly model: DecoderModel,
    private readonly options: RequestBatcherOptions,
  ) {
    this.batcher = new DynamicBatcher<Job, GenerationSequence>({
      name: `generate ${model.name}`,
      runBatch: (jobs) => this.runBatch(jobs),
      maxBatchSize: options.maxBatchSize,
      maxConcurrentBatches: options.maxConcurrentBatches,
      maxQueueDelayMs: options.maxQueueDelayMs,
      priorityLevels: options.priorityLevels,
      queuePolicy: options.queuePolicy,
      logger: options.logger,
      observer: options.observer,
    });
  }

  /** Requests waiting for a batch, and requests in running batches. */
  load(): { waiting: number; active: number } {
    return { waiting: this.batcher.queueDepth, active: this.batcher.inFlight };
  }

  /** Queues `seq`; resolves when its batch has generated it to the end. */
  run(seq: GenerationSequence, options: RunSequenceOptions = {}): Promise<GenerationSequence> {
    return this.batcher.submit({ seq, signal: options.signal }, { priority: Math.min(seq.priority, this.options.priorityLevels), signal: options.signal, deadline: options.deadline });
  }

  /** Request-level batches have no backpressure pause. */
  resume(): void {}

  drain(): Promise<void> {
    return this.batcher.drain();
  }

  private async runBatch(jobs: Job[]): Promise<GenerationSequence[]> {
    const live = () => jobs.filter((j) => !j.seq.finished && !j.signal?.aborted).map((j) => j.seq);
    try {
      // Prefill: every prompt at once, padded to the longest.
      const first = live();
      if (first.length > 0) {
        const { logits, computeMs } = await this.model.step([first.map((s) => ({ cache: (s.cache ??= this.model.createCache()), tokens: s.promptIds }))]);
        this.forwardPasses++;
        const total = first.reduce((n, s) => n + s.promptIds.length, 0);
        first.forEach((s, i) => {
          s.prefilled = s.promptIds.length;
          s.computeMs += (computeMs[0]! * s.promptIds.length) / total;
          s.accept(logits[0]![i]!);
          if (s.finished) this.model.release(s.cache);
        });
      }
      for (let rows = live(); rows.length > 0; rows = live()) {
        const { logits, computeMs } = await this.model.step([rows.map((s) => ({ cache: s.cache!, tokens: [s.nextInput!] }))]);
        this.forwardPasses++;
        rows.forEach((s, i) => {
          s.computeMs += computeMs[0]! / rows.length;
          s.accept(logits[0]![i]!);
          if (s.finished) this.model.release(s.cache);
        });
      }
      return jobs.map((j) => j.seq);
    } finally {
      for (const j of jobs) this.model.release(j.seq.cache);
    }
  }
}
