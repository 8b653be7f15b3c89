/**
 * What a decoder step sends to the worker that holds the KV caches (decoder-worker.ts) and what
 * comes back: token ids in, the token sampled after each row's last new token out. The caches and
 * the samplers' state (random stream, token counts) live in the worker and never cross; logits
 * cross only when asked for.
 */
import type { SamplingSettings } from './sampling-params.js';
import type { TokenChoice } from './token-sampler.js';

/** The method name of a step on the executor's worker extension. */
export const DECODER_STEP = 'decoder.step';

/** What a worker needs to sample a sequence's tokens: its settings, and its prompt for the repetition penalty. */
export interface SamplerInit {
  settings: SamplingSettings;
  promptIds: readonly number[];
}

/** One sequence's share of a forward pass. */
export interface PassRowRequest {
  /** The sequence's cache id (a new id starts an empty cache). */
  id: number;
  /** Positions the main thread believes are cached: a mismatch fails the step (the worker was replaced). */
  cached: number;
  /**
   * New tokens to process (at least one). Absent: the one token this worker sampled for the
   * sequence last, so a decode step can be sent before the previous step's result is read.
   */
  tokens?: number[];
  /** Sample the next token after this row's last new token (its prompt is complete). */
  sample?: boolean;
  /** The sequence's sampler: sent with its first pass; the worker keeps it until the cache is released. */
  sampler?: SamplerInit;
}

/** One step on one worker: caches (and samplers) to free first, then forward passes in order. */
export interface DecoderStepRequest {
  release: number[];
  passes: PassRowRequest[][];
  /** Also return the logits after each row's last new token (tests, diagnostics). */
  logits?: boolean;
  /** When the main thread sent it (`performance.timeOrigin + performance.now()`, ms), to time each way across threads. */
  sentAt?: number;
}

/** How one pass went, for accounting and benchmarks. */
export interface PassReport {
  /** Milliseconds in `session.run`. */
  sessionMs: number;
  /** Milliseconds laying out rows (moves between blocks, capacity changes) and appending new keys and values. */
  cacheMs: number;
  /** Positions the pass computed attention over per row (its block's capacity). */
  capacity: number;
  /** New positions per row (the longest row's new tokens; the others are padded to it). */
  width: number;
  /** Rows that sampled, by what they sampled from: the graph's argmax or probabilities, or the logits. */
  sampledFrom: SampledFrom;
}

/** Counts of sampled rows by source (see {@link PassReport.sampledFrom}). */
export interface SampledFrom {
  argmax: number;
  probs: number;
  logits: number;
}

/** The answer to a {@link DecoderStepRequest}. */
export interface DecoderStepReply {
  /**
   * Per row, every pass's rows in request order: the token sampled, or -1 where the row did not
   * sample (a typed array: a step's reply is cloned between threads, an object per row is not free).
   */
  tokens: Int32Array;
  /** For the rows that asked for logprobs (by row index as in `tokens`): the token's and the alternatives'. */
  logprobs: Map<number, { logprob: number; top: TokenChoice[] }>;
  /** When asked for: logits after each row's last new token, as the model gave them: `[rows, vocab]`; else empty. */
  logits: Float32Array;
  vocabSize: number;
  /** Milliseconds the worker spent sampling. */
  sampleMs: number;
  passes: PassReport[];
  /** Milliseconds the whole call took in the worker. */
  workerMs: number;
  /** When the worker started the step, and milliseconds since `sentAt` then (clock of `sentAt`). */
  startedAt: number;
  inboundMs: number;
  /** Floats the cache store has copied so far (moves and re-layouts, not appends). */
  copiedFloats: number;
  /** Sequences with a cache on this worker after the step. */
  cachedSequences: number;
  /** How the graph gives the new keys and values (see decoder-graph.ts). */
  graph: DecoderGraphMode;
}

/**
 * `concat-free`: attention reads past and new keys/values in place and the new ones are outputs;
 * `new-kv`: only the new ones were exposed (the graph still concatenates internally);
 * `presents`: the graph is as exported and new positions are read from the present outputs.
 */
export type DecoderGraphMode = 'concat-free' | 'new-kv' | 'presents';
