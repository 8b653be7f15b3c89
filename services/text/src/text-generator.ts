/**
 * Turns a generation request into a sequence (tokenize, validate against the context) and its
 * run into a stream of events that the caller pulls; the sequence pauses while the caller does
 * not pull (see ContinuousBatcher).
 */
import { invalidArgument, ServiceError } from '@aigc/runtime';
import { GenerationSequence, type GenerationEvent } from './generation-sequence.js';
import type { RunSequenceOptions } from './continuous-batcher.js';
import type { SamplingSettings } from './sampling-params.js';
import type { TextTokenizer } from './text-tokenizer.js';

/** Runs sequences: the continuous batcher, or the request-level baseline. */
export interface SequenceRunner {
  run(seq: GenerationSequence, options?: RunSequenceOptions): Promise<GenerationSequence>;
  resume(): void;
  drain(): Promise<void>;
  /** Requests waiting to run, and requests running (for the queue-depth and in-flight gauges). */
  load(): { waiting: number; active: number };
}

/** What a generator needs to know about its model. */
export interface GeneratorModelInfo {
  contextLength: number;
  eosTokenIds: number[];
}

/** Prepares and streams generations for one model; see the module comment. */
export class TextGenerator {
  constructor(
    readonly tokenizer: TextTokenizer,
    private readonly model: GeneratorModelInfo,
    readonly runner: SequenceRunner,
  ) {}

  /** Tokenizes and checks a prompt; INVALID_ARGUMENT when it does not fit the context. */
  prepare(prompt: string, settings: SamplingSettings, priority: number): GenerationSequence {
    let promptIds = this.tokenizer.encode(prompt);
    // An empty prompt starts from the end-of-sequence token, as GPT-2 does.
    if (promptIds.length === 0) promptIds = [this.model.eosTokenIds[0] ?? 0];
    const room = this.model.contextLength - promptIds.length;
    if (room < 1) throw invalidArgument(`prompt is ${promptIds.length} tokens; the model's context holds ${this.model.contextLength} (prompt + completion)`);
    return new GenerationSequence(
      { promptIds, settings, priority, maxNewTokens: Math.min(settings.maxTokens, room), eosTokenIds: settings.ignoreEos ? [] : this.model.eosTokenIds },
      this.tokenizer,
    );
  }

  /** Runs `seq` and yields its events as they are produced; throws if it is cancelled or fails. */
  async *stream(seq: GenerationSequence, options: RunSequenceOptions = {}): AsyncGenerator<GenerationEvent> {
    let settled = false;
    let failure: unknown;
    let notify: (() => void) | undefined;
    seq.onProgress = () => notify?.();
    const done = this.runner.run(seq, options).then(
      () => {
        settled = true;
        notify?.();
      },
      (err: unknown) => {
        settled = true;
        failure = err;
        notify?.();
      },
    );
    try {
      for (;;) {
        const event = seq.take();
        if (event) {
          this.runner.resume();
          yield event;
          continue;
        }
        if (failure !== undefined) throw ServiceError.from(failure);
        if (settled) return;
        await new Promise<void>((resolve) => (notify = resolve));
        notify = undefined;
      }
    } finally {
      seq.onProgress = undefined;
      void done;
    }
  }

  /** Whole-text convenience over {@link stream}. */
  async complete(seq: GenerationSequence, options: RunSequenceOptions = {}): Promise<{ text: string; events: GenerationEvent[] }> {
    const events: GenerationEvent[] = [];
    for await (const e of this.stream(seq, options)) events.push(e);
    return { text: events.map((e) => e.delta).join(''), events };
  }
}
