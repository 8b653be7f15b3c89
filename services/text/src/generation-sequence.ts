/**
 * One request's generation state, shared by every batching mode: prompt progress, KV cache,
 * incremental detokenizer, stop sequences, the events a stream has not yet taken, and the compute
 * time it was charged. Tokens are sampled in the worker that holds the cache (its sampler is made
 * there from {@link GenerationSequence.samplerInit}); this side takes each sampled token.
 */
import { FinishReason, type TokenLogprob } from '@aigc/proto';
import type { SequenceCache } from './decoder-model.js';
import type { SamplerInit } from './decoder-protocol.js';
import type { SamplingSettings } from './sampling-params.js';
import { StopMatcher } from './stop-matcher.js';
import { IncrementalDecoder, type TextTokenizer } from './text-tokenizer.js';
import type { SampledToken } from './token-sampler.js';

/** What a stream receives: new text and the logprobs of the tokens that produced it. */
export interface GenerationEvent {
  delta: string;
  logprobs: TokenLogprob[];
}

/** What a sequence needs to start. */
export interface SequenceInit {
  promptIds: number[];
  settings: SamplingSettings;
  /** 1 is the highest. */
  priority: number;
  /** Most new tokens: max_tokens, capped by what the context leaves after the prompt. */
  maxNewTokens: number;
  /** Ids that end generation. */
  eosTokenIds: readonly number[];
}

/** The state of one generation request; see the module comment. */
export class GenerationSequence {
  readonly promptIds: number[];
  readonly settings: SamplingSettings;
  readonly priority: number;
  readonly maxNewTokens: number;
  readonly arrivedAt = performance.now();
  /** Prompt tokens already in the cache. */
  prefilled = 0;
  /** Prompt tokens sent to the worker, including steps not yet answered. */
  plannedPrefill = 0;
  /** Tokens that will have been sampled once every step sent so far is answered. */
  plannedTokens = 0;
  /** Its KV cache in the worker; created at its first forward pass. */
  cache: SequenceCache | undefined;
  readonly generatedIds: number[] = [];
  finishReason: FinishReason | undefined;
  /** Milliseconds of model compute charged to this request (its share of each step it was in). */
  computeMs = 0;
  /** Events not yet taken by the caller. */
  readonly events: GenerationEvent[] = [];
  /** Called whenever events or the finish reason change. */
  onProgress: (() => void) | undefined;
  private readonly decoder: IncrementalDecoder;
  private readonly stops: StopMatcher;
  private readonly eos: Set<number>;

  constructor(init: SequenceInit, private readonly tokenizer: TextTokenizer) {
    this.promptIds = init.promptIds;
    this.settings = init.settings;
    this.priority = init.priority;
    this.maxNewTokens = init.maxNewTokens;
    this.eos = new Set(init.eosTokenIds);
    this.decoder = new IncrementalDecoder(tokenizer);
    this.stops = new StopMatcher(init.settings.stop);
  }

  /** Prompt tokens not yet in the cache. */
  get remainingPrompt(): number {
    return this.promptIds.length - this.prefilled;
  }

  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** What the worker needs to sample this sequence's tokens. */
  samplerInit(): SamplerInit {
    return { settings: this.settings, promptIds: this.promptIds };
  }

  /** Tokens this sequence will hold in the KV cache at most. */
  get reservedTokens(): number {
    return this.promptIds.length + this.maxNewTokens;
  }

  /** Takes the token sampled after the sequence's last fed token (ignored once finished). */
  accept(picked: SampledToken): void {
    if (this.finished) return;
    this.generatedIds.push(picked.id);
    const logprobs: TokenLogprob[] = [];
    if (this.settings.logprobs !== undefined) {
      logprobs.push({
        token: this.tokenizer.tokenText(picked.id),
        logprob: picked.logprob,
        top: picked.top.map((t) => ({ token: this.tokenizer.tokenText(t.id), logprob: t.logprob })),
      });
    }
    if (this.eos.has(picked.id)) {
      const rest = this.stops.push(this.decoder.flush());
      this.emit(rest.text + (rest.stopped ? '' : this.stops.flush()), logprobs);
      return this.finish(FinishReason.FINISH_REASON_STOP);
    }
    const { text, stopped } = this.stops.push(this.decoder.push(picked.id));
    if (stopped) {
      this.emit(text, logprobs);
      return this.finish(FinishReason.FINISH_REASON_STOP);
    }
    if (this.generatedIds.length >= this.maxNewTokens) {
      const rest = this.stops.push(this.decoder.flush());
      this.emit(text + rest.text + (rest.stopped ? '' : this.stops.flush()), logprobs);
      return this.finish(rest.stopped ? FinishReason.FINISH_REASON_STOP : FinishReason.FINISH_REASON_LENGTH);
    }
    this.emit(text, logprobs);
  }

  /** Events a stream has not taken: one that stops reading pauses its sequence (backpressure). */
  get bufferedTokens(): number {
    return this.events.length;
  }

  /** Takes the oldest pending event. */
  take(): GenerationEvent | undefined {
    return this.events.shift();
  }

  private emit(delta: string, logprobs: TokenLogprob[]): void {
    if (delta.length === 0 && logprobs.length === 0) return;
    this.events.push({ delta, logprobs });
    this.onProgress?.();
  }

  private finish(reason: FinishReason): void {
    this.finishReason = reason;
    this.onProgress?.();
  }
}
