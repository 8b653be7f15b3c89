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
 */
import { IterationScheduler, type BatcherObserver, type IterationStep, type Logger, type QueuePolicy } from '@aigc/serving';
import type { DecoderModel } from './decoder-model.js';
import type { GenerationSequence } from './generation-sequence.js';
import { CAPACITY_STEP } from './kv-cache.js';
import type { SchedulerSpec } from './model-spec.js';

/** Options of a {@link ContinuousBatcher}. */
export interface ContinuousBatcherOptions extends SchedulerSpec {
  priorityLevels: number;
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

/** Runs generation sequences with continuous batching; see the module comment. */
export class ContinuousBatcher {
  private readonly scheduler: IterationScheduler<GenerationSequence>;
  private wake: (() => void) | undefined;
  /** Forward passes run so far. */
  forwardPasses = 0;

  constructor(
    private readonly model: DecoderModel,
    private readonly options: ContinuousBatcherOptions,
  ) {
    this.scheduler = new IterationScheduler<GenerationSequence>({
      name: `generate ${model.name}`,
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

  private async step(seqs: GenerationSequence[]): Promise<IterationStep<GenerationSequence>[]> {
    let budget = this.options.maxStepTokens;
    const decoding: GenerationSequence[] = [];
    const prefilling: GenerationSequence[] = [];
    for (const s of seqs) {
      if (s.finished || s.bufferedTokens >= this.options.maxBufferedTokens) continue;
      if (s.remainingPrompt > 0) prefilling.push(s);
      else if (budget > 0) {
        decoding.push(s);
        budget--;
      }
    }
    const chunks = this.planPrefill(prefilling, budget, decoding.length === 0);
    if (decoding.length === 0 && chunks.length === 0) {
      // Every active stream is paused by backpressure: wait for a reader (or a cancel) briefly.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      return seqs.map((state) => ({ state, done: state.finished }));
    }
    const passes: { seqs: GenerationSequence[]; tokens: number[][] }[] = decodePasses(decoding).map((group) => ({ seqs: group, tokens: group.map((s) => [s.nextInput!]) }));
    if (chunks.length > 0) {
      passes.push({ seqs: chunks.map((c) => c.seq), tokens: chunks.map((c) => c.seq.promptIds.slice(c.seq.prefilled, c.seq.prefilled + c.length)) });
    }
    const rows = passes.reduce((n, p) => n + p.seqs.length, 0);
    const tokens = passes.reduce((n, p) => n + p.tokens.reduce((m, t) => m + t.length, 0), 0);
    this.options.observer?.batchStarted?.({ size: rows, requests: rows, cost: tokens, queueMs: [] });
    let stepped: Awaited<ReturnType<DecoderModel['step']>>;
    try {
      stepped = await this.model.step(passes.map((p) => p.seqs.map((s, i) => ({ cache: (s.cache ??= this.model.createCache()), tokens: p.tokens[i]! }))));
    } catch (err) {
      this.options.observer?.batchFinished?.({ size: rows, computeMs: 0, ok: false });
      throw err;
    }
    const { logits, computeMs } = stepped;
    this.options.observer?.batchFinished?.({ size: rows, computeMs: computeMs.reduce((a, b) => a + b, 0), ok: true });
    this.forwardPasses += passes.length;
    passes.forEach((p, k) => this.accept(p.seqs, p.tokens, logits[k]!, computeMs[k]!));
    return seqs.map((state) => ({ state, done: state.finished }));
  }

  /**
   * Picks prompt chunks within the budget: by priority, then shortest remaining prompt, then
   * arrival. The padded cost of the prefill pass is rows x longest chunk.
   */
  private planPrefill(candidates: GenerationSequence[], budget: number, mustProgress: boolean): { seq: GenerationSequence; length: number }[] {
    if (candidates.length === 0) return [];
    if (mustProgress) budget = Math.max(budget, 1);
    const order = candidates.slice().sort((a, b) => a.priority - b.priority || a.remainingPrompt - b.remainingPrompt || a.arrivedAt - b.arrivedAt);
    const picked: GenerationSequence[] = [];
    let width = 0;
    for (const s of order) {
      const w = Math.max(width, Math.min(this.options.prefillChunk, s.remainingPrompt));
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
    return picked.map((seq) => ({ seq, length: Math.min(width, seq.remainingPrompt) }));
  }

  /** Takes one pass's results: prompt progress, then a sampled token where the prompt is done. */
  private accept(seqs: GenerationSequence[], tokens: number[][], logits: Float32Array[], computeMs: number): void {
    const total = tokens.reduce((n, t) => n + t.length, 0);
    seqs.forEach((s, i) => {
      s.computeMs += (computeMs * tokens[i]!.length) / total;
      if (s.remainingPrompt > 0) {
        s.prefilled += tokens[i]!.length;
        if (s.remainingPrompt > 0) return; // more prompt chunks to go
      }
      if (!s.finished) s.accept(logits[i]!);
    });
  }
}

/**
 * What a decode pass costs, in units of one row attending one cached slot (~0.2 us): a fixed
 * cost per pass (~0.14 ms: the session's per-node overhead) and a cost per row (~25 us: the
 * weights), fitted to `session.run` times of fortunes-gpt at 1-16 rows and 32-240 slots on one
 * CPU thread. Only the ratios matter; a model with a larger hidden size has a larger row cost.
 */
export const DECODE_PASS_COST = { pass: 700, row: 125 } as const;

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
