/**
 * Continuous (iteration-level) batching of generation, after Orca and vLLM, on libs/serving's
 * IterationScheduler: sequences join the running batch between steps and leave when they finish
 * or are cancelled; admission is bounded by a KV-cache token budget and ordered by priority.
 *
 * Each step spends a token budget: first one token per decoding sequence, then prompt chunks,
 * shortest remaining prompt first within a priority level, so a short prompt's first token never
 * waits behind a long prompt's whole prefill. Decode rows and prefill rows run as separate forward
 * passes (a decode row padded to a prefill chunk would waste that chunk's compute); decode rows
 * run as one pass unless splitting them by cache length saves more padded attention than the
 * extra passes cost ({@link decodePasses}). All of a step's passes go to the worker in one message.
 * A stream that stops reading pauses its sequence, which keeps its slot but takes no compute.
 *
 * Steps are pipelined, after the overlap schedulers of vLLM and SGLang: tokens are sampled in the
 * worker, a decode row sends no token (the worker feeds the one it sampled), so step k+1 is planned
 * and sent before step k's result is read, and the worker starts it the moment step k ends. The
 * main thread detokenizes, matches stop sequences and streams step k while the worker runs k+1.
 * The price: a sequence that turns out to have finished at step k (end of sequence, a stop
 * sequence) has run one more row in step k+1, whose token is dropped; one that joins does so a step
 * later. Length limits are known ahead, so a sequence at its max_tokens is never planned past it.
 */
import { IterationScheduler, type BatcherObserver, type IterationStep, type Logger, type QueuePolicy } from '@aigc/serving';
import type { DecoderModel, StepResult, StepRow } from './decoder-model.js';
import type { GenerationSequence } from './generation-sequence.js';
import { CAPACITY_STEP } from './kv-cache.js';
import type { SchedulerSpec } from './model-spec.js';

/** Options of a {@link ContinuousBatcher}. */
export interface ContinuousBatcherOptions extends SchedulerSpec {
  priorityLevels: number;
  /**
   * Runs every sequence on this executor instance (one batcher per instance, see
   * {@link ShardedBatcher}); absent, new sequences go to the instance with the fewest caches.
   */
  instance?: number;
  queuePolicy?: QueuePolicy | QueuePolicy[];
  logger?: Logger;
  /** Serving metrics hooks: each step is a batch of its rows (sequences that ran a pass). */
  observer?: BatcherObserver;
}

/** Options of one {@link ContinuousBatcher.run}. */
export interface RunSequenceOptions {
  signal?: AbortSignal;
  deadline?: number;
}

/** A step sent to the worker and not yet read: its passes' rows and tokens, and its result. */
interface InFlight {
  passes: { seqs: GenerationSequence[]; tokens: number[] }[];
  rows: number;
  result: Promise<StepResult>;
}

/** Runs generation sequences with continuous batching; see the module comment. */
export class ContinuousBatcher {
  private readonly scheduler: IterationScheduler<GenerationSequence>;
  private wake: (() => void) | undefined;
  /** The step the worker runs (or has queued) while this thread reads the one before it. */
  private inFlight: InFlight | undefined;
  /** Forward passes run so far. */
  forwardPasses = 0;

  constructor(
    private readonly model: DecoderModel,
    private readonly options: ContinuousBatcherOptions,
  ) {
    this.scheduler = new IterationScheduler<GenerationSequence>({
      name: options.instance === undefined ? `generate ${model.name}` : `generate ${model.name} (instance ${options.instance})`,
      step: (seqs) => this.step(seqs),
      maxActive: options.maxActive,
      maxCost: options.kvCacheTokens,
      priorityLevels: options.priorityLevels,
      queuePolicy: options.queuePolicy,
      logger: options.logger,
    });
  }

  /** Steps run so far (each is one scheduling iteration). */
  get iterations(): number {
    return this.scheduler.iterations;
  }

  get activeCount(): number {
    return this.scheduler.activeCount;
  }

  get waitingCount(): number {
    return this.scheduler.waitingCount;
  }

  /** Sequences waiting to join, and sequences in the running batch. */
  load(): { waiting: number; active: number } {
    return { waiting: this.scheduler.waitingCount, active: this.scheduler.activeCount };
  }

  /** Admits `seq` (waiting if the batch or KV budget is full) and resolves when it finishes. */
  run(seq: GenerationSequence, options: RunSequenceOptions = {}): Promise<GenerationSequence> {
    // A model configured with fewer levels serves the lower priorities at its lowest level.
    const priority = Math.min(seq.priority, this.options.priorityLevels);
    const done = this.scheduler.submit(seq, { priority, cost: seq.reservedTokens, signal: options.signal, deadline: options.deadline });
    // Finished, cancelled or failed: its cache is freed with the next step.
    const release = () => this.model.release(seq.cache);
    done.then(release, release);
    return done;
  }

  /** A stream took events: a paused sequence may continue. */
  resume(): void {
    this.wake?.();
  }

  /** Stops admitting; resolves when every admitted and waiting sequence has finished. */
  drain(): Promise<void> {
    return this.scheduler.drain();
  }

  /**
   * One scheduling iteration: plans and sends the next step on the state the sequences will have
   * once the step in flight is done, then reads the step in flight.
   */
  private async step(seqs: GenerationSequence[]): Promise<IterationStep<GenerationSequence>[]> {
    const previous = this.inFlight;
    this.inFlight = this.send(seqs);
    if (previous) await this.read(previous);
    else if (!this.inFlight) {
      // Every active stream is paused by backpressure: wait for a reader (or a cancel) briefly.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return seqs.map((state) => ({ state, done: state.finished }));
  }

  /** Plans a step over `seqs` as they will be after the step in flight, and sends it; undefined when there is nothing to run. */
  private send(seqs: GenerationSequence[]): InFlight | undefined {
    // A sequence whose last token is already in flight needs its cache no more: the worker drops
    // it before this step, so its row does not sit among this step's rows.
    for (const s of seqs) if (s.cache && s.plannedTokens >= s.maxNewTokens) this.model.retire(s.cache);
    let budget = this.options.maxStepTokens;
    const decoding: GenerationSequence[] = [];
    const prefilling: GenerationSequence[] = [];
    for (const s of seqs) {
      if (s.finished) continue;
      const ahead = s.plannedTokens - s.generatedIds.length;
      if (s.bufferedTokens + ahead >= this.options.maxBufferedTokens) continue;
      if (s.plannedPrefill < s.promptIds.length) prefilling.push(s);
      else if (s.plannedTokens < s.maxNewTokens && budget > 0) {
        decoding.push(s);
        budget--;
      }
    }
    const chunks = this.planPrefill(prefilling, budget, decoding.length === 0);
    if (decoding.length === 0 && chunks.length === 0) return undefined;
    const passes: InFlight['passes'] = decodePasses(decoding).map((group) => ({ seqs: group, tokens: group.map(() => 1) }));
    const rows: StepRow[][] = passes.map((p) => p.seqs.map((s) => ({ cache: s.cache!, sample: true })));
    if (chunks.length > 0) {
      passes.push({ seqs: chunks.map((c) => c.seq), tokens: chunks.map((c) => c.length) });
      rows.push(
        chunks.map(({ seq, length }) => ({
          cache: (seq.cache ??= this.model.createCache(this.options.instance)),
          tokens: seq.promptIds.slice(seq.plannedPrefill, seq.plannedPrefill + length),
          sample: seq.plannedPrefill + length === seq.promptIds.length,
          sampler: seq.plannedPrefill === 0 ? seq.samplerInit() : undefined,
        })),
      );
    }
    // What the sequences will have once this step has run, for planning the next one.
    for (const s of decoding) s.plannedTokens++;
    for (const { seq, length } of chunks) {
      seq.plannedPrefill += length;
      if (seq.plannedPrefill === seq.promptIds.length) seq.plannedTokens++;
    }
    const size = rows.reduce((n, p) => n + p.length, 0);
    const tokens = passes.reduce((n, p) => n + p.tokens.reduce((m, t) => m + t, 0), 0);
    this.options.observer?.batchStarted?.({ size, requests: size, cost: tokens, queueMs: [] });
    this.forwardPasses += passes.length;
    const result = this.model.step(rows, { pipeline: true });
    // Read (and its failure reported) at the next iteration, or dropped if every row finished.
    result.catch(() => undefined);
    return { passes, rows: size, result };
  }

  /** Takes a step's results: prompt progress, then each sampled token (dropped for a sequence that has finished or left). */
  private async read(step: InFlight): Promise<void> {
    let result: StepResult;
    try {
      result = await step.result;
    } catch (err) {
      this.options.observer?.batchFinished?.({ size: step.rows, computeMs: 0, ok: false });
      // A failed step only matters to sequences still running.
      if (step.passes.some((p) => p.seqs.some((s) => !s.finished && (s.cache?.instance ?? 0) >= 0))) throw err;
      return;
    }
    this.options.observer?.batchFinished?.({ size: step.rows, computeMs: result.computeMs.reduce((a, b) => a + b, 0), ok: true });
    step.passes.forEach((pass, k) => {
      const total = pass.tokens.reduce((n, t) => n + t, 0);
      pass.seqs.forEach((s, i) => {
        if (s.finished || (s.cache?.instance ?? -1) < 0) return;
        s.computeMs += (result.computeMs[k]! * pass.tokens[i]!) / total;
        if (s.prefilled < s.promptIds.length) s.prefilled += pass.tokens[i]!;
        const picked = result.sampled[k]![i];
        if (picked) s.accept(picked);
      });
    });
  }

  /**
   * Picks prompt chunks within the budget: by priority, then shortest remaining prompt, then
   * arrival. The padded cost of the prefill pass is rows x longest chunk.
   */
  private planPrefill(candidates: GenerationSequence[], budget: number, mustProgress: boolean): { seq: GenerationSequence; length: number }[] {
    if (candidates.length === 0) return [];
    if (mustProgress) budget = Math.max(budget, 1);
    const remaining = (s: GenerationSequence) => s.promptIds.length - s.plannedPrefill;
    const order = candidates.slice().sort((a, b) => a.priority - b.priority || remaining(a) - remaining(b) || a.arrivedAt - b.arrivedAt);
    const picked: GenerationSequence[] = [];
    let width = 0;
    for (const s of order) {
      const w = Math.max(width, Math.min(this.options.prefillChunk, remaining(s)));
      if ((picked.length + 1) * w > budget) {
        if (picked.length === 0) {
          picked.push(s);
          width = Math.min(w, budget);
        }
        break;
      }
      picked.push(s);
      width = w;
    }
    return picked.map((seq) => ({ seq, length: Math.min(width, remaining(seq)) }));
  }
}

/**
 * Continuous batching over several executor instances: one {@link ContinuousBatcher} per instance,
 * each stepping its own worker at its own pace, and each new sequence goes to the shard with the
 * fewest sequences waiting and running. One batcher stepping every instance in lockstep would make
 * each worker wait for the slowest one's step and for the main thread between steps; shards
 * overlap all of that. `maxActive` and `kvCacheTokens` hold per shard (per instance: each worker
 * holds its own caches).
 */
export class ShardedBatcher {
  constructor(readonly shards: readonly ContinuousBatcher[]) {
    if (shards.length === 0) throw new RangeError('a sharded batcher needs at least one shard');
  }

  /** Admits `seq` on the least loaded shard; resolves when it finishes. */
  run(seq: GenerationSequence, options: RunSequenceOptions = {}): Promise<GenerationSequence> {
    let best = this.shards[0]!;
    let least = Infinity;
    for (const shard of this.shards) {
      const n = shard.waitingCount + shard.activeCount;
      if (n < least) {
        least = n;
        best = shard;
      }
    }
    return best.run(seq, options);
  }

  resume(): void {
    for (const shard of this.shards) shard.resume();
  }

  async drain(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.drain()));
  }

  load(): { waiting: number; active: number } {
    return { waiting: this.shards.reduce((n, s) => n + s.waitingCount, 0), active: this.shards.reduce((n, s) => n + s.activeCount, 0) };
  }
}

/**
 * What a decode pass costs, in units of one row attending one cached slot (~0.14 us): a fixed
 * cost per pass (~0.19 ms: the session's per-node overhead) and a cost per row (~25 us: the
 * weights), fitted to `session.run` times of fortunes-gpt's rewritten graph at 1-16 rows and
 * 16-232 slots on one CPU thread (bench/text/pass-cost.ts). Only the ratios matter; a model with
 * a larger hidden size has a larger row cost.
 */
export const DECODE_PASS_COST = { pass: 1350, row: 180 } as const;

/** Positions a row attends in a pass whose longest cache is `length`: its block's capacity. */
const attended = (length: number) => Math.ceil((length + 1) / CAPACITY_STEP) * CAPACITY_STEP;

/**
 * Splits decode rows into passes by cache length, longest first, choosing the split that
 * minimises {@link DECODE_PASS_COST} summed over passes: one pass when lengths are close, more
 * when a few long caches would make every short row attend their length.
 */
export function decodePasses(seqs: GenerationSequence[]): GenerationSequence[][] {
  if (seqs.length <= 1) return seqs.length === 0 ? [] : [seqs];
  const len = (s: GenerationSequence) => s.cache?.length ?? 0;
  const sorted = seqs.slice().sort((a, b) => len(b) - len(a) || a.arrivedAt - b.arrivedAt);
  const n = sorted.length;
  // best[i]: cheapest split of sorted[i..]; cut[i]: where its first pass ends.
  const best = new Array<number>(n + 1).fill(Infinity);
  const cut = new Array<number>(n + 1).fill(n);
  best[n] = 0;
  for (let i = n - 1; i >= 0; i--) {
    const width = attended(len(sorted[i]!));
    for (let j = i + 1; j <= n; j++) {
      const cost = DECODE_PASS_COST.pass + (j - i) * (DECODE_PASS_COST.row + width) + best[j]!;
      if (cost < best[i]!) {
        best[i] = cost;
        cut[i] = j;
      }
    }
  }
  const passes: GenerationSequence[][] = [];
  for (let i = 0; i < n; i = cut[i]!) passes.push(sorted.slice(i, cut[i]!));
  return passes;
}
