import { ServiceError } from '@aigc/runtime';
import { FinishReason } from '@aigc/proto';
import type { OnnxExecutor } from '@aigc/serving';
import { sampleToken, seededRandom, type SamplingSettings } from './sampler.js';

/** One step of generated output. */
export interface GeneratedChunk {
  delta: string;
  finishReason?: FinishReason;
}

/** Totals of one generation. */
export interface GenerationStats {
  promptTokens: number;
  completionTokens: number;
  computeMs: number;
}

/**
 * Autoregressive generation over a byte-level causal language model (`input_ids` [1, T] ->
 * `logits` [1, T, 256]): each step runs the last `contextWindow` bytes through the model in a
 * worker thread, samples the next byte, and yields the text decoded so far. Stop sequences cut
 * the output exactly before their first occurrence. The [text] issue replaces this with
 * KV-cached, continuously batched decoding over subword tokenizers.
 */
export class ByteLevelGenerator {
  constructor(
    private readonly executor: OnnxExecutor,
    private readonly contextWindow: number,
  ) {}

  /** Tokens of a prompt (its UTF-8 bytes). */
  countTokens(prompt: string): number {
    return Buffer.byteLength(prompt, 'utf8');
  }

  async *generate(prompt: string, settings: SamplingSettings, signal: AbortSignal, stats: GenerationStats): AsyncGenerator<GeneratedChunk> {
    const context = [...Buffer.from(prompt, 'utf8')];
    if (context.length === 0) context.push(0x0a); // an empty prompt starts a new line
    stats.promptTokens = this.countTokens(prompt);
    const random = seededRandom(settings.seed);
    const decoder = new TextDecoder('utf-8');
    let text = '';
    let emitted = 0;
    const holdBack = Math.max(0, ...settings.stop.map((s) => s.length - 1));

    for (let step = 0; step < settings.maxTokens; step++) {
      if (signal.aborted) throw ServiceError.from(signal.reason);
      const window = context.slice(-this.contextWindow);
      const { outputs, computeMs } = await this.executor.run(
        { input_ids: { type: 'int64', dims: [1, window.length], data: BigInt64Array.from(window, BigInt) } },
        { signal },
      );
      stats.computeMs += computeMs;
      const logits = outputs.logits!;
      const vocab = logits.dims[2]!;
      const row = (logits.data as Float32Array).subarray((window.length - 1) * vocab, window.length * vocab);
      const token = sampleToken(row, settings, random);
      context.push(token);
      stats.completionTokens++;
      text += decoder.decode(Uint8Array.of(token), { stream: true });

      const stopAt = firstStop(text, settings.stop);
      if (stopAt !== undefined) {
        yield { delta: text.slice(emitted, stopAt), finishReason: FinishReason.FINISH_REASON_STOP };
        return;
      }
      // Hold back a possible prefix of a stop sequence until it is decided.
      const safe = text.length - holdBack;
      if (safe > emitted) {
        yield { delta: text.slice(emitted, safe) };
        emitted = safe;
      }
    }
    text += decoder.decode();
    yield { delta: text.slice(emitted), finishReason: FinishReason.FINISH_REASON_LENGTH };
  }
}

function firstStop(text: string, stops: string[]): number | undefined {
  let best: number | undefined;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (best === undefined || at < best)) best = at;
  }
  return best;
}
