/**
 * Sentence embeddings through libs/serving's ServedModel: each text is one request to its
 * DynamicBatcher, which pads texts from any number of calls into shared batches (the model's
 * config.json declares `input_ids` ragged and `attention_mask` as its mask).
 */
import { invalidArgument } from '@aigc/runtime';
import { ServedModel, type BatcherObserver, type Logger } from '@aigc/serving';
import type { TextModelSpec } from './model-spec.js';
import { TextTokenizer } from './text-tokenizer.js';

/** Most texts in one Embed call. */
export const MAX_EMBED_INPUTS = 256;

/** Options of one {@link TextEmbedder.embed}. */
export interface EmbedOptions {
  priority?: number;
  signal?: AbortSignal;
  deadline?: number;
}

/** Embeds texts with one embedding model; see the module comment. */
export class TextEmbedder {
  private constructor(
    readonly spec: TextModelSpec,
    /** The embedding model behind its dynamic batcher (also served over the Open Inference Protocol). */
    readonly model: ServedModel,
    readonly tokenizer: TextTokenizer,
    private readonly output: string,
  ) {}

  /** Opens the model's sessions and batcher. */
  static async load(spec: TextModelSpec, logger?: Logger, observer?: BatcherObserver): Promise<TextEmbedder> {
    const model = await ServedModel.load({ config: spec.serving, version: spec.version, modelPath: spec.modelPath, logger, observer });
    return new TextEmbedder(spec, model, TextTokenizer.fromFile(spec.tokenizerPath, spec.tokenizerConfigPath), spec.serving.outputs[0]!.name);
  }

  /** One L2-normalised vector per input, and the tokens consumed. */
  async embed(inputs: string[], options: EmbedOptions = {}): Promise<{ vectors: Float32Array[]; tokens: number }> {
    if (inputs.length === 0) throw invalidArgument('inputs must hold at least one text');
    if (inputs.length > MAX_EMBED_INPUTS) throw invalidArgument(`inputs takes at most ${MAX_EMBED_INPUTS} texts, got ${inputs.length}`);
    let tokens = 0;
    const requests = inputs.map((text, i) => {
      let ids = this.tokenizer.encode(text);
      if (ids.length === 0) throw invalidArgument(`inputs[${i}] must not be empty`);
      // The encoder's positions end at the context length; longer texts keep their beginning.
      ids = ids.slice(0, this.spec.contextLength);
      tokens += ids.length;
      const data = BigInt64Array.from(ids, (v) => BigInt(v));
      return this.model.infer({ input_ids: { type: 'int64', dims: [1, ids.length], data } }, { ...options, outputs: [this.output] });
    });
    const outputs = await Promise.all(requests);
    const vectors = outputs.map((o) => normalise(Float32Array.from(o[this.output]!.data as Float32Array)));
    return { vectors, tokens };
  }

  /** Finishes queued requests and closes the sessions. */
  close(): Promise<void> {
    return this.model.unload();
  }
}

function normalise(v: Float32Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}
