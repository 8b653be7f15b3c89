/**
 * Continuous (iteration-level) batching of generation, after Orca and vLLM, on libs/serving's
 * IterationScheduler: sequences join the running batch between steps and leave when they finish
 * or are cancelled; admission is bounded by a KV-cache token budget and ordered by priority.
 *
 * Each step spends a token budget: first one token per decoding sequence, then prompt chunks,
 * shortest remaining prompt first within a priority level, so a short prompt's first token never
 * waits behind a long prompt's whole prefill. Decode rows and prefill rows run as two forward
 * passes (a decode row padded to a prefill chunk would waste that chunk's compute), and decode
 * rows of very different cache lengths run in separate passes (each pass pads every row's past to
 * its longest; on CPU that padding, not the weights, dominates a step's cost). A stream that
 * stops reading pauses its sequence, which keeps its slot but takes no compute until read.
 */
import { IterationScheduler, type IterationStep, type Logger, type QueuePolicy } from '@aigc/serving';
import type { DecoderModel, StepRow } from './decoder-model.js';
import type { GenerationSequence } from './generation-sequence.js';
import type { SchedulerSpec } from './model-spec.js';

/** Options of a {@link ContinuousBatcher}. */
export interface ContinuousBatcherOptions extends SchedulerSpec {
  priorityLevels: number;
  queuePolicy?: QueuePolicy | QueuePolicy[];
  logger?: Logger;
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

  /** Admits `seq` (waiting if the batch or KV budget is full) and resolves when it finishes. */
  run(seq: GenerationSequence, options: RunSequenceOptions = {}): Promise<GenerationSequence> {
    // A model configured with fewer levels serves the lower priorities at its lowest level.
    const priority = Math.min(seq.priority, this.options.priorityLevels);
    return this.scheduler.submit(seq, { priority, cost: seq.reservedTokens, signal: options.signal, deadline: options.deadline });
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
    const runs: Promise<void>[] = [];
    for (const group of lengthGroups(decoding)) runs.push(this.forward(group, group.map((s) => [s.nextInput!])));
    if (chunks.length > 0) runs.push(this.forward(chunks.map((c) => c.seq), chunks.map((c) => c.seq.promptIds.slice(c.seq.prefilled, c.seq.prefilled + c.length))));
    await Promise.all(runs);
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

  private async forward(seqs: GenerationSequence[], tokens: number[][]): Promise<void> {
    const rows: StepRow[] = seqs.map((s, i) => ({ tokens: tokens[i]!, cache: s.cache }));
    const { outputs, computeMs } = await this.model.step(rows);
    this.forwardPasses++;
    const total = tokens.reduce((n, t) => n + t.length, 0);
    seqs.forEach((s, i) => {
      const out = outputs[i]!;
      s.cache = out.cache;
      s.computeMs += (computeMs * tokens[i]!.length) / total;
      if (s.remainingPrompt > 0) {
        s.prefilled += tokens[i]!.length;
        if (s.remainingPrompt > 0) return; // more prompt chunks to go
      }
      if (!s.finished) s.accept(out.logits);
    });
  }
}

/** Most padding a decode pass may carry: rows x longest past <= this x the sum of pasts. */
const MAX_PADDING_RATIO = 1.5;

/**
 * Splits decode rows into passes of similar cache length, longest first, so that no pass pads
 * more than {@link MAX_PADDING_RATIO}. The order is stable from step to step (every length grows
 * by one), which lets a pass reuse the previous pass's output as its past without a copy.
 */
export function lengthGroups(seqs: GenerationSequence[]): GenerationSequence[][] {
  const len = (s: GenerationSequence) => s.cache?.length ?? 0;
  const sorted = seqs.slice().sort((a, b) => len(b) - len(a) || a.arrivedAt - b.arrivedAt);
  const groups: GenerationSequence[][] = [];
  let group: GenerationSequence[] = [];
  let sum = 0;
  for (const s of sorted) {
    const longest = group.length > 0 ? len(group[0]!) : len(s);
    if (group.length > 0 && longest * (group.length + 1) > MAX_PADDING_RATIO * (sum + len(s))) {
      groups.push(group);
      group = [];
      sum = 0;
    }
    group.push(s);
    sum += len(s);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
