/**
 * Request-level batching of generation, the baseline continuous batching is measured against
 * (bench/text): libs/serving's DynamicBatcher groups waiting requests, and a batch runs prefill
 * and decoding to the end of its longest member before the next batch may start. Finished rows
 * leave the decode batch, but nobody joins it. `maxBatchSize: 1` is no batching at all.
 *
 * A batch's rows share one KV-cache block as wide as its longest row, so a batch holds rows x the
 * longest (prompt + max_tokens) of its members; `kvCacheTokens` bounds that (the dynamic batcher's
 * `padded` cost), the same memory budget the continuous batcher admits against.
 */
import { DynamicBatcher, type BatcherObserver, type Logger, type QueuePolicy } from '@aigc/serving';
import type { DecoderModel, StepResult, StepRow } from './decoder-model.js';
import type { GenerationSequence } from './generation-sequence.js';
import type { RunSequenceOptions } from './continuous-batcher.js';

/** Options of a {@link RequestBatcher}. */
export interface RequestBatcherOptions {
  maxBatchSize: number;
  /** KV-cache tokens a batch may hold, padded (rows x longest reservation); unbounded when absent. */
  kvCacheTokens?: number;
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
      maxBatchCost: options.kvCacheTokens,
      costMode: 'padded',
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
    return this.batcher.submit({ seq, signal: options.signal }, { priority: Math.min(seq.priority, this.options.priorityLevels), cost: seq.reservedTokens, signal: options.signal, deadline: options.deadline });
  }

  /** Request-level batches have no backpressure pause. */
  resume(): void {}

  drain(): Promise<void> {
    return this.batcher.drain();
  }

  /**
   * Prefill of every prompt at once, padded to the longest, then decode steps until the last row
   * finishes. Steps are pipelined as in the continuous batcher (the next step is sent before the
   * last one is read; a row that finished at step k runs once more in step k+1, dropped), so the
   * two differ only in who may join a running batch.
   */
  private async runBatch(jobs: Job[]): Promise<GenerationSequence[]> {
    const going = (j: Job) => !j.seq.finished && !j.signal?.aborted;
    try {
      let rows = jobs.filter(going);
      if (rows.length === 0) return jobs.map((j) => j.seq);
      let tokens = rows.map((j) => j.seq.promptIds.length);
      let inFlight = this.send(rows.map(({ seq }) => ({ cache: (seq.cache ??= this.model.createCache()), tokens: seq.promptIds, sample: true, sampler: seq.samplerInit() })), rows);
      for (;;) {
        // The next step: rows that have not finished (as far as is known) and have tokens left.
        // One whose last token is in flight has its cache dropped before the next step.
        for (const { seq } of rows) if (seq.plannedTokens >= seq.maxNewTokens) this.model.retire(seq.cache!);
        const next = rows.filter((j) => going(j) && j.seq.plannedTokens < j.seq.maxNewTokens);
        const nextStep = next.length > 0 ? this.send(next.map(({ seq }) => ({ cache: seq.cache!, sample: true })), next) : undefined;
        const { sampled, computeMs } = await inFlight;
        const total = tokens.reduce((n, t) => n + t, 0);
        rows.forEach(({ seq }, i) => {
          if (seq.finished || seq.cache!.instance < 0) return;
          seq.prefilled = seq.promptIds.length;
          seq.computeMs += (computeMs[0]! * tokens[i]!) / total;
          seq.accept(sampled[0]![i]!);
          if (seq.finished) this.model.release(seq.cache);
        });
        if (!nextStep) break;
        inFlight = nextStep;
        rows = next;
        tokens = next.map(() => 1);
      }
      return jobs.map((j) => j.seq);
    } finally {
      for (const j of jobs) this.model.release(j.seq.cache);
    }
  }

  /** Sends one pass over `rows` (each of which samples); its failure is read when it is awaited. */
  private send(rows: StepRow[], jobs: Job[]): Promise<StepResult> {
    for (const { seq } of jobs) seq.plannedTokens++;
    this.forwardPasses++;
    const step = this.model.step([rows], { pipeline: true });
    step.catch(() => undefined);
    return step;
  }
}
