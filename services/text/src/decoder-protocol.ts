/**
 * What a decoder step sends to the worker that holds the KV caches (decoder-worker.ts) and what
 * comes back: token ids in, logits of each row's last new token out. Caches never cross.
 */

/** The method name of a step on the executor's worker extension. */
export const DECODER_STEP = 'decoder.step';

/** One sequence's share of a forward pass. */
export interface PassRowRequest {
  /** The sequence's cache id (a new id starts an empty cache). */
  id: number;
  /** Positions the main thread believes are cached: a mismatch fails the step (the worker was replaced). */
  cached: number;
  /** New tokens to process (at least one). */
  tokens: number[];
}

/** One step on one worker: caches to free first, then forward passes in order. */
export interface DecoderStepRequest {
  release: number[];
  passes: PassRowRequest[][];
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
}

/** The answer to a {@link DecoderStepRequest}. */
export interface DecoderStepReply {
  /** Logits after each row's last new token, every pass's rows in request order: `[rows, vocab]`. */
  logits: Float32Array;
  vocabSize: number;
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
