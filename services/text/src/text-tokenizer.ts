/**
 * A Hugging Face `tokenizer.json` loaded with `@huggingface/tokenizers`, and an incremental
 * decoder that turns a growing id sequence into text deltas that never split a character.
 */
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

/** Encodes prompts and decodes generated ids with a model's `tokenizer.json`. */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  /** Number of ids the tokenizer knows, added tokens included. */
  readonly vocabSize: number;
  private readonly specialIds: Set<number>;

  constructor(json: object, config: object = {}) {
    this.tokenizer = new Tokenizer(json, config);
    const vocab = this.tokenizer.get_vocab(true);
    this.vocabSize = Math.max(...vocab.values()) + 1;
    this.specialIds = new Set([...this.tokenizer.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id));
  }

  /** Loads `tokenizer.json` (and `tokenizer_config.json` when given) from disk. */
  static fromFile(path: string, configPath?: string): TextTokenizer {
    const config = configPath ? (JSON.parse(readFileSync(configPath, 'utf8')) as object) : {};
    return new TextTokenizer(JSON.parse(readFileSync(path, 'utf8')) as object, config);
  }

  /** Token ids of `text`, without special tokens (prompts are continued, not wrapped). */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Text of `ids`, special tokens skipped. */
  decode(ids: number[]): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  /** The token string of an id (as the vocabulary spells it), for logprobs. */
  tokenText(id: number): string {
    return this.decode([id]) || (this.tokenizer.id_to_token(id) ?? '');
  }

  /** The id of a token string, if the vocabulary has it. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Whether an id is a special (added) token such as `</s>`. */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }
}

/**
 * Turns ids into text deltas as they are generated. Decoding a window of recent ids and emitting
 * only what follows the already-emitted prefix keeps byte-fallback and byte-level tokens that
 * end mid-character (U+FFFD) back until the character completes, as text-generation-inference does.
 */
export class IncrementalDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** Adds one id; returns the new text it completes (possibly empty). */
  push(id: number): string {
    this.ids.push(id);
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    if (full.length > prefix.length && !full.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return full.slice(prefix.length);
    }
    return '';
  }

  /** Whatever is still held back (an incomplete character at the end of generation). */
  flush(): string {
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.length > prefix.length ? full.slice(prefix.length) : '';
  }
}
