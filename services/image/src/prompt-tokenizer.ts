/**
 * Prompt tokenizers for the `tokenizer/` folder of a latent-diffusion export: CLIP's byte-level
 * BPE when `merges.txt` is present (Stable Diffusion), otherwise a word-level vocabulary
 * (`vocab.json` alone, as the default model ships). Both pad to the text encoder's fixed length.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Turns a prompt into the text encoder's fixed-length `input_ids`. */
export interface PromptTokenizer {
  /** Token ids, `<bos> ... <eos>` then padding, exactly `maxLength` long. */
  encode(text: string): number[];
  readonly maxLength: number;
}

interface TokenizerConfig {
  model_max_length?: number;
  bos_token?: string | { content: string };
  eos_token?: string | { content: string };
  pad_token?: string | { content: string };
  unk_token?: string | { content: string };
  do_lower_case?: boolean;
}

const tokenName = (t: TokenizerConfig['bos_token'], fallback: string) => (typeof t === 'string' ? t : (t?.content ?? fallback));

/** Reads the tokenizer of a model folder's `tokenizer/` directory. */
export function loadPromptTokenizer(dir: string, maxLengthHint?: number): PromptTokenizer {
  const vocabPath = join(dir, 'vocab.json');
  if (!existsSync(vocabPath)) throw new Error(`${vocabPath} is missing`);
  const vocab = JSON.parse(readFileSync(vocabPath, 'utf8')) as Record<string, number>;
  const configPath = join(dir, 'tokenizer_config.json');
  const config = (existsSync(configPath) ? JSON.parse(readFileSync(configPath, 'utf8')) : {}) as TokenizerConfig;
  const merges = join(dir, 'merges.txt');
  if (existsSync(merges)) {
    const lines = readFileSync(merges, 'utf8').split('\n').filter((l) => l.length > 0 && !l.startsWith('#version'));
    return new ClipBpeTokenizer(vocab, lines, config, maxLengthHint);
  }
  return new WordLevelTokenizer(vocab, config, maxLengthHint);
}

function maxLengthOf(config: TokenizerConfig, hint: number | undefined, fallback: number): number {
  const m = config.model_max_length;
  // Some exports write a huge sentinel (1e30) for "no limit"; the encoder's positions decide then.
  return hint ?? (m !== undefined && m > 0 && m < 100_000 ? m : fallback);
}

function idOf(vocab: Record<string, number>, token: string): number {
  const id = vocab[token];
  if (id === undefined) throw new Error(`tokenizer vocabulary has no ${token}`);
  return id;
}

function frame(ids: number[], bos: number, eos: number, pad: number, maxLength: number): number[] {
  const out = [bos, ...ids.slice(0, maxLength - 2), eos];
  while (out.length < maxLength) out.push(pad);
  return out;
}

/** Lower-cased words looked up in a vocabulary (unknown words become `<unk>`). */
export class WordLevelTokenizer implements PromptTokenizer {
  readonly maxLength: number;
  private readonly bos: number;
  private readonly eos: number;
  private readonly pad: number;
  private readonly unk: number;

  constructor(
    private readonly vocab: Record<string, number>,
    config: TokenizerConfig,
    maxLengthHint?: number,
  ) {
    this.maxLength = maxLengthOf(config, maxLengthHint, 16);
    this.bos = idOf(vocab, tokenName(config.bos_token, '<bos>'));
    this.eos = idOf(vocab, tokenName(config.eos_token, '<eos>'));
    this.pad = idOf(vocab, tokenName(config.pad_token, '<pad>'));
    this.unk = idOf(vocab, tokenName(config.unk_token, '<unk>'));
  }

  encode(text: string): number[] {
    const words = text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0);
    return frame(words.map((w) => this.vocab[w] ?? this.unk), this.bos, this.eos, this.pad, this.maxLength);
  }
}

const CLIP_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/** GPT-2's reversible byte -> printable character map. */
function byteEncoder(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map: string[] = new Array(256);
  for (const b of bs) map[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCharCode(256 + n++);
  return map;
}

/** CLIP's tokenizer: whitespace-cleaned, lower-cased, byte-level BPE with `</w>` word ends. */
export class ClipBpeTokenizer implements PromptTokenizer {
  readonly maxLength: number;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();
  private readonly bytes = byteEncoder();
  private readonly bos: number;
  private readonly eos: number;
  private readonly pad: number;

  constructor(
    private readonly vocab: Record<string, number>,
    merges: string[],
    config: TokenizerConfig,
    maxLengthHint?: number,
  ) {
    merges.forEach((m, i) => this.ranks.set(m.trim(), i));
    this.maxLength = maxLengthOf(config, maxLengthHint, 77);
    this.bos = idOf(vocab, tokenName(config.bos_token, '<|startoftext|>'));
    this.eos = idOf(vocab, tokenName(config.eos_token, '<|endoftext|>'));
    this.pad = idOf(vocab, tokenName(config.pad_token, '<|endoftext|>'));
  }

  encode(text: string): number[] {
    const clean = text.replace(/\s+/g, ' ').trim().toLowerCase();
    const ids: number[] = [];
    for (const match of clean.matchAll(CLIP_PATTERN)) {
      const mapped = Array.from(Buffer.from(match[0], 'utf8'), (b) => this.bytes[b]!).join('');
      for (const piece of this.bpe(mapped)) {
        const id = this.vocab[piece];
        if (id !== undefined) ids.push(id);
      }
    }
    return frame(ids, this.bos, this.eos, this.pad, this.maxLength);
  }

  private bpe(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const [a, b] = [word[best]!, word[best + 1]!];
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === a && word[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(word[i]!);
      }
      word = merged;
    }
    this.cache.set(token, word);
    return word;
  }
}
